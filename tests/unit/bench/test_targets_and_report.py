"""The benchmark's ratio, target and report code on fixed inputs (no broker, no clock)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.bench import report, targets
from tests.bench.events import Scenario
from tests.bench.peers import NAIVE, PEERS, RELAY, Guarantees

SINGLE = Scenario("a", "single, no latency", "sms", 1, 0, 10, 100, 1, 1)
SLOW = Scenario("b", "single, 200 ms", "sms", 1, 200, 10, 100, 1, 1)
WEAKER: dict[str, Any] = {"commit_after_done": False, "no_second_send": False, "ordering": "none"}
STRONGER: dict[str, Any] = {
    "commit_after_done": True,
    "no_second_send": False,
    "ordering": "partition",
}


def latencies(p99: float) -> dict[str, float]:
    return {"p50": p99 / 2, "p95": p99 - 1, "p99": p99, "n": 100.0}


def scenario_result(**peers: dict[str, Any]) -> dict[str, Any]:
    return {
        "scenario": "a",
        "title": "single, no latency",
        "params": {"recipients": 1},
        "service": {
            "events_per_s": 3000.0,
            "p99_overhead_ms": 30.0,
            "peak_rss_mib": 100.0,
            "cpu_s_per_1000_events": 0.4,
            "latency_half_rate_ms": latencies(30.0),
            "half_rate_produce_to_accepted_ms": latencies(20.0),
        },
        "ceilings": {
            "http_aiohttp": {"events_per_s": 12000.0},
            "http_service": {"events_per_s": 6000.0},
            "kafka": {"events_per_s": 600000.0},
        },
        "naive": {"events_per_s": 150.0},
        "peers": peers,
    }


def peer(rate: float | None, guarantees: dict[str, Any], label: str = "p") -> dict[str, Any]:
    return {"label": label, "guarantees": guarantees, "events_per_s": rate}


@pytest.mark.parametrize(
    ("mine", "other", "expected"),
    [
        (RELAY, RELAY, True),
        (Guarantees(**WEAKER), RELAY, True),
        (Guarantees(**STRONGER), RELAY, False),  # partition order: the relay has none
        (Guarantees(True, False, "key"), RELAY, False),
        (RELAY, NAIVE, False),  # the naive consumer has no duplicate protection
        (Guarantees(True, False, "key"), NAIVE, True),
    ],
)
def test_a_peer_is_comparable_only_when_it_promises_no_more(mine, other, expected):
    assert mine.no_stronger_than(other) is expected


def test_best_peer_is_the_fastest_that_promises_no_more_than_the_relay():
    peers = {
        "fast-but-ordered": peer(5000.0, STRONGER),
        "weak": peer(1500.0, WEAKER),
        "weaker-slower": peer(900.0, WEAKER),
        "broken": {"label": "x", "guarantees": WEAKER, "error": "exit 1"},
    }
    assert targets.best_peer(peers) == "weak"
    assert targets.fastest_peer(peers) == "fast-but-ordered"
    assert targets.best_peer({"only-stronger": peer(10.0, STRONGER)}) is None


def test_ratios_divide_the_relay_by_each_other_figure():
    result = scenario_result(weak=peer(1500.0, WEAKER), ordered=peer(6000.0, STRONGER))
    ratios = targets.ratios(SINGLE, result, in_flight=64, batch_size=100)
    assert ratios == {
        "service_vs_aiohttp_ceiling": 0.25,
        "service_vs_service_transport_ceiling": 0.5,
        "service_vs_kafka_ceiling": 0.005,
        "service_vs_naive": 20.0,
        "service_vs_best_peer": 2.0,
        "service_vs_fastest_peer": 0.5,
    }


def test_ratios_without_a_figure_are_none_and_latency_scenarios_get_the_ideal():
    result = scenario_result()
    result["naive"] = {"error": "timed out"}
    result["service"]["events_per_s"] = 288.0
    ratios = targets.ratios(SLOW, result, in_flight=64, batch_size=100)
    assert ratios["service_vs_naive"] is None
    assert ratios["service_vs_best_peer"] is None
    assert ratios["service_vs_inflight_over_latency"] == pytest.approx(288 / 320)


def test_targets_are_judged_per_scenario_from_one_table():
    result = scenario_result(weak=peer(1500.0, WEAKER))
    result["ratios"] = targets.ratios(SINGLE, result, in_flight=64, batch_size=100)
    judged = {t["target"]: t["met"] for t in targets.evaluate("a", result)}
    assert judged == {
        "service / raw aiohttp ceiling": False,  # 0.25 < 0.5
        "service / best peer with equal or weaker guarantees": True,  # 2.0 >= 1.5
        "p99 overhead at half rate (ms)": False,  # 30 > 25
        "peak RSS (MiB)": True,
    }
    names = {t["target"] for t in targets.evaluate("c", result)}
    assert names == {"service / own transport ceiling", "service / naive", "peak RSS (MiB)"}
    result["ratios"]["service_vs_best_peer"] = None
    unjudged = [t for t in targets.evaluate("a", result) if t["met"] is None]
    assert [t["target"] for t in unjudged] == [
        "service / best peer with equal or weaker guarantees"
    ]


def run_data(result: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(result)
    result["ratios"] = targets.ratios(SINGLE, result, in_flight=64, batch_size=100)
    result["targets"] = targets.evaluate("a", result)
    return {
        "mode": "full",
        "machine": {"cpus": 2, "mem_total_gib": 23.5},
        "pinning": {"taskset": True, "sandbox_cpus": "0", "relay_ceilings_naive_cpu": 1},
        "scenarios": [result],
    }


def test_the_table_has_a_row_per_peer_with_its_guarantees_and_the_relays_lead():
    ack_first = PEERS["faststream-ack-first"]
    result = scenario_result(
        **{ack_first.name: peer(1500.0, ack_first.guarantees.__dict__, ack_first.label)}
    )
    text = report.markdown(run_data(result))
    rows = [line for line in text.splitlines() if line.startswith("| a | ")]
    relay_row = next(r for r in rows if "**relay**" in r)
    assert "commit after done: yes; no second send: yes; order: none" in relay_row
    peer_row = next(r for r in rows if r.startswith("| a | faststream-ack-first"))
    assert "commit after done: no; no second send: no; order: none" in peer_row
    assert "| 1,500.0 |" in peer_row
    assert peer_row.endswith("| 2.00 |")  # 3000 / 1500
    naive_row = next(r for r in rows if "naive consumer" in r)
    assert naive_row.endswith("| 20.00 |")
    assert "order: partition" in naive_row


def test_every_target_is_printed_as_met_or_not_met():
    lines = report.target_lines(run_data(scenario_result(weak=peer(1500.0, WEAKER))))
    assert lines == [
        "a: service / raw aiohttp ceiling >= 0.5: 0.25 not met",
        "a: service / best peer with equal or weaker guarantees >= 1.5: 2.00 met",
        "a: p99 overhead at half rate (ms) <= 25: 30.00 not met",
        "a: peak RSS (MiB) <= 150: 100.00 met",
    ]


def test_a_peer_that_failed_is_shown_with_its_error_and_no_figures():
    failed = {"label": "x", "guarantees": WEAKER, "error": "no result within 120s"}
    text = report.markdown(run_data(scenario_result(broken=failed)))
    row = next(line for line in text.splitlines() if "broken" in line)
    assert "(no result within 120s)" in row
    assert "| — | — | — | — | — |" in row


def test_the_lanes_scenarios_targets_are_printed_with_the_others():
    data = run_data(scenario_result())
    data["lanes"] = {"targets": [{"target": "bulk / rate limit", "value": 0.93, "goal": ">= 0.9",
                                  "met": True}]}  # fmt: skip
    assert report.target_lines(data)[-1] == "e: bulk / rate limit >= 0.9: 0.93 met"


def test_a_peer_with_few_events_in_its_window_is_marked_a_lower_bound():
    lumpy = {**peer(0.1, WEAKER), "events": 1}
    steady = {**peer(900.0, WEAKER), "events": 7200}
    text = report.markdown(run_data(scenario_result(lumpy=lumpy, steady=steady)))
    rows = [line for line in text.splitlines() if line.startswith("| a | ")]
    assert "(only 1 finished in its window: a lower bound)" in rows[1]
    assert "lower bound" not in rows[2]
