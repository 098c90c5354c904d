"""The ratios of a scenario and the benchmark's targets, as data (reported, never asserted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.bench.events import Scenario
from tests.bench.peers import RELAY, Guarantees


@dataclass(frozen=True)
class Target:
    scenarios: str  # the scenario keys it applies to, e.g. "cd"
    name: str
    source: str  # "ratios" or "service": where `key` is read from a scenario's result
    key: str
    op: str  # ">=" or "<="
    goal: float


TARGETS = (
    Target("a", "service / raw aiohttp ceiling", "ratios", "service_vs_aiohttp_ceiling", ">=", 0.5),
    Target(
        "a",
        "service / best peer with equal or weaker guarantees",
        "ratios",
        "service_vs_best_peer",
        ">=",
        1.5,
    ),
    Target(
        "cd",
        "service / own transport ceiling",
        "ratios",
        "service_vs_service_transport_ceiling",
        ">=",
        0.75,
    ),
    Target("cd", "service / naive", "ratios", "service_vs_naive", ">=", 5),
    Target("ab", "p99 overhead at half rate (ms)", "service", "p99_overhead_ms", "<=", 25),
    Target("abcd", "peak RSS (MiB)", "service", "peak_rss_mib", "<=", 150),
)


def evaluate(scenario_key: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the scenario with its value and whether it is met (None: no value)."""
    out = []
    for t in TARGETS:
        if scenario_key not in t.scenarios:
            continue
        value = result[t.source].get(t.key)
        met = None if value is None else (value >= t.goal if t.op == ">=" else value <= t.goal)
        out.append({"target": t.name, "value": value, "goal": f"{t.op} {t.goal:g}", "met": met})
    return out


def best_peer(peers: dict[str, Any], relay: Guarantees = RELAY) -> str | None:
    """The fastest peer that promises no more than the relay does."""
    eligible = {
        name: p["events_per_s"]
        for name, p in peers.items()
        if p.get("events_per_s") and Guarantees(**p["guarantees"]).no_stronger_than(relay)
    }
    return max(eligible, key=lambda name: eligible[name]) if eligible else None


def fastest_peer(peers: dict[str, Any]) -> str | None:
    rates = {name: p["events_per_s"] for name, p in peers.items() if p.get("events_per_s")}
    return max(rates, key=lambda name: rates[name]) if rates else None


def ratios(
    sc: Scenario, result: dict[str, Any], in_flight: int, batch_size: int
) -> dict[str, float | None]:
    """The relay's events/s over each of the others' (None where the other has no figure)."""
    service = result["service"]["events_per_s"]

    def over(other: float | None) -> float | None:
        return None if not other else service / other

    ceilings, peers = result["ceilings"], result.get("peers", {})
    best, fastest = best_peer(peers), fastest_peer(peers)
    out = {
        "service_vs_aiohttp_ceiling": over(ceilings.get("http_aiohttp", {}).get("events_per_s")),
        "service_vs_service_transport_ceiling": over(
            ceilings.get("http_service", {}).get("events_per_s")
        ),
        "service_vs_kafka_ceiling": over(ceilings.get("kafka", {}).get("events_per_s")),
        "service_vs_naive": over(result["naive"].get("events_per_s")),
        "service_vs_best_peer": over(peers[best]["events_per_s"]) if best else None,
        "service_vs_fastest_peer": over(peers[fastest]["events_per_s"]) if fastest else None,
    }
    if sc.latency_ms:
        ideal = in_flight / (sc.latency_ms / 1000) / sc.requests_per_event(batch_size)
        out["service_vs_inflight_over_latency"] = service / ideal
    return out
