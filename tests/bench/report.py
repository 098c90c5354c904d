"""Targets (reported, never asserted), the Markdown table and the PNG chart of a bench run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.bench import lanes
from tests.bench.events import Scenario

RSS_TARGET_MIB = 150.0
P99_OVERHEAD_TARGET_MS = 25.0


def _target(name: str, value: float | None, op: str, goal: float) -> dict[str, Any]:
    met = None if value is None else (value >= goal if op == ">=" else value <= goal)
    return {"target": name, "value": value, "goal": f"{op} {goal:g}", "met": met}


def targets(sc: Scenario, result: dict[str, Any]) -> list[dict[str, Any]]:
    service, ratios = result["service"], result["ratios"]
    out = []
    if sc.key == "a":
        out.append(
            _target("service / aiohttp ceiling", ratios["service_vs_aiohttp_ceiling"], ">=", 0.7)
        )
        out.append(_target("service / naive", ratios["service_vs_naive"], ">=", 20))
    if sc.key == "b":
        out.append(
            _target(
                "service / (in_flight / latency)",
                ratios.get("service_vs_inflight_over_latency"),
                ">=",
                0.9,
            )
        )
    if sc.key == "c":
        out.append(_target("recipients/s", service["recipients_per_s"], ">=", 100_000))
    if sc.key in ("a", "b"):
        out.append(
            _target(
                "p99 overhead at half rate (ms)",
                service["p99_overhead_ms"],
                "<=",
                P99_OVERHEAD_TARGET_MS,
            )
        )
    out.append(_target("peak RSS (MiB)", service["peak_rss_mib"], "<=", RSS_TARGET_MIB))
    return out


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def markdown(data: dict[str, Any]) -> str:
    head = (
        "| scenario | events/s | recipients/s | e2e p50 / p95 / p99 ms (half rate) "
        "| CPU s / 1k events | peak RSS MiB | aiohttp ceiling ev/s | service-transport "
        "ceiling ev/s | kafka ceiling ev/s | naive ev/s | svc / aiohttp | svc / naive "
        "| svc / (in_flight/latency) |"
    )
    rows = [head, "|" + "---|" * 13]
    for s in data["scenarios"]:
        svc, ce, r = s["service"], s["ceilings"], s["ratios"]
        lat = svc["latency_half_rate_ms"]
        rows.append(
            f"| {s['scenario']}: {s['title']} | {_n(svc['events_per_s'], 1)} "
            f"| {_n(svc['recipients_per_s'])} "
            f"| {_n(lat['p50'])} / {_n(lat['p95'])} / {_n(lat['p99'])} "
            f"| {_n(svc['cpu_s_per_1000_events'], 2)} | {_n(svc['peak_rss_mib'], 1)} "
            f"| {_n(ce.get('http_aiohttp', {}).get('events_per_s'), 1)} "
            f"| {_n(ce.get('http_service', {}).get('events_per_s'), 1)} "
            f"| {_n(ce.get('kafka', {}).get('events_per_s'))} "
            f"| {_n(s['naive'].get('events_per_s'), 1)} "
            f"| {_n(r.get('service_vs_aiohttp_ceiling'), 2)} "
            f"| {_n(r.get('service_vs_naive'), 1)} "
            f"| {_n(r.get('service_vs_inflight_over_latency'), 2)} |"
        )
    lines = [
        "\n".join(rows),
        "",
        "| scenario | target | goal | value | met |",
        "|---|---|---|---|---|",
    ]
    for s in data["scenarios"]:
        for t in s["targets"]:
            met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
            lines.append(
                f"| {s['scenario']} | {t['target']} | {t['goal']} | {_n(t['value'], 2)} | {met} |"
            )
    if data.get("lanes"):
        lines += ["", lanes.markdown(data["lanes"])]
    pin = data["pinning"]
    lines.append("")
    lines.append(
        f"Machine: {data['machine']['cpus']} CPUs, {data['machine']['mem_total_gib']} GiB; "
        f"pinning: {'sandbox on CPU ' + pin['sandbox_cpus'] if pin['taskset'] else 'none'}"
        f"{', relay/ceilings/naive on CPU ' + str(pin['relay_ceilings_naive_cpu']) if pin['taskset'] else ''}"  # noqa: E501
        f"; broker and load generator unpinned. Mode: {data['mode']}."
    )
    return "\n".join(lines)


def chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only when writing the chart

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    scen = data["scenarios"]
    labels = [f"{s['scenario']}: {s['title']}" for s in scen]
    series = {
        "relay": [s["service"]["events_per_s"] for s in scen],
        "aiohttp ceiling": [
            s["ceilings"].get("http_aiohttp", {}).get("events_per_s") for s in scen
        ],
        "service-transport ceiling": [
            s["ceilings"].get("http_service", {}).get("events_per_s") for s in scen
        ],
        "naive": [s["naive"].get("events_per_s") for s in scen],
    }
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5))
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(scen))]
        ax1.bar(xs, [v or 0 for v in values], width, label=name)
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(scen)), labels, rotation=15, fontsize=8)
    ax1.set_ylabel("events/s (log)")
    ax1.set_title("Throughput: relay vs ceilings and naive baseline")
    ax1.legend(fontsize=8)
    for k, q in enumerate(("p50", "p95", "p99")):
        xs = [i + (k - 1) * 0.25 for i in range(len(scen))]
        ax2.bar(xs, [s["service"]["latency_half_rate_ms"][q] or 0 for s in scen], 0.25, label=q)
    ax2.set_xticks(range(len(scen)), labels, rotation=15, fontsize=8)
    ax2.set_ylabel("ms")
    ax2.set_yscale("log")
    ax2.set_title("End-to-end latency at half the max rate")
    ax2.legend(fontsize=8)
    fig.suptitle(f"pushr-relay bench ({data['mode']}, {data['generated_at']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
