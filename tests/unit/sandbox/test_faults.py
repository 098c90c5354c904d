import random
from collections import Counter

import pytest

from service.clock import ManualClock
from service.devkit.sandbox.fault_engine import Decision, FaultEngine
from service.devkit.sandbox.faults import FaultConfig, Latency


def engine(raw: dict[str, object], seed: int = 7) -> tuple[FaultEngine, ManualClock]:
    clock = ManualClock()
    return FaultEngine(FaultConfig.from_dict(raw), random.Random(seed), clock), clock


def test_no_faults_means_no_decision() -> None:
    eng, _ = engine({})
    assert all(eng.decide("send-sms") is None for _ in range(100))


def test_sequence_is_applied_in_order_then_rates() -> None:
    eng, _ = engine({"sequence": ["503", "ok", "late", "hang", "reset", "429"], "late_delay_s": 9})
    decisions = [eng.decide("send-sms") for _ in range(7)]
    assert decisions == [
        Decision("error", 503, 0.0, None),
        None,
        Decision("late", None, 9.0),
        Decision("hang", None, 0.0),
        Decision("reset", None, 0.0),
        Decision("error", 429, 0.0, 1),
        None,
    ]


def test_rates_match_their_probabilities() -> None:
    eng, _ = engine(
        {
            "error_rates": {"500": 0.1, "502": 0.1, "503": 0.1, "429": 0.1},
            "hang_rate": 0.1,
            "reset_rate": 0.1,
            "late_rate": 0.1,
        }
    )
    kinds: Counter[str] = Counter()
    for _ in range(20_000):
        d = eng.decide("send-sms")
        kinds["ok" if d is None else d.kind if d.status is None else str(d.status)] += 1
    for kind in ("500", "502", "503", "429", "hang", "reset", "late", "ok"):
        expected = 0.3 if kind == "ok" else 0.1
        assert abs(kinds[kind] / 20_000 - expected) < 0.015, kinds


def test_same_seed_same_decisions() -> None:
    raw = {"error_rates": {"503": 0.3}, "latency_ms": {"dist": "exponential", "mean_ms": 5}}
    a, _ = engine(raw, seed=3)
    b, _ = engine(raw, seed=3)
    assert [a.decide("custom") for _ in range(50)] == [b.decide("custom") for _ in range(50)]


def test_injected_429_carries_retry_after() -> None:
    eng, _ = engine({"error_rates": {"429": 1.0}, "retry_after_s": 2.5})
    assert eng.decide("send-sms") == Decision("error", 429, 0.0, 3)


def test_endpoint_filter() -> None:
    eng, _ = engine({"error_rates": {"500": 1.0}, "endpoints": ["custom"]})
    assert eng.decide("send-sms") is None
    assert eng.decide("list") is None
    decision = eng.decide("custom")
    assert decision is not None
    assert decision.status == 500


def test_rate_limit_token_bucket() -> None:
    eng, clock = engine({"rate_limit_rps": 10, "rate_limit_burst": 3})
    assert [eng.decide("send-sms") for _ in range(3)] == [None, None, None]
    limited = eng.decide("send-sms")
    assert limited == Decision("rate_limited", 429, 0.0, 1)
    clock.advance(0.1)  # one token back
    assert eng.decide("send-sms") is None
    assert eng.decide("send-sms") is not None
    clock.advance(10)
    assert [eng.decide("send-sms") for _ in range(3)] == [None, None, None]


def test_slow_rate_limit_reports_seconds_to_wait() -> None:
    eng, _ = engine({"rate_limit_rps": 0.25})
    assert eng.decide("send-sms") is None
    assert eng.decide("send-sms") == Decision("rate_limited", 429, 0.0, 4)


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        (25, 0.025, 0.025),
        ("25", 0.025, 0.025),
        ("uniform:10:20", 0.010, 0.020),
        ({"dist": "uniform", "min_ms": 10, "max_ms": 20}, 0.010, 0.020),
        ("exponential:5", 0.0, 1.0),
        ({"dist": "normal", "mean_ms": 50, "stddev_ms": 100}, 0.0, 1.0),
    ],
)
def test_latency_distributions(spec: object, low: float, high: float) -> None:
    latency = Latency.parse(spec)
    rng = random.Random(1)
    samples = [latency.sample_s(rng) for _ in range(500)]
    assert all(low <= s <= high for s in samples)
    assert Latency.parse(latency.to_json()) == latency


def test_latency_is_added_to_every_answer() -> None:
    eng, _ = engine({"latency_ms": 40, "sequence": ["503"], "late_delay_s": 1})
    assert eng.decide("list") == Decision("error", 503, 0.04, None)
    assert eng.decide("list") == Decision("ok", None, 0.04)


@pytest.mark.parametrize(
    "raw",
    [
        {"error_rates": {"404": 0.1}},
        {"error_rates": {"503": 0.6}, "late_rate": 0.6},
        {"hang_rate": -0.1},
        {"sequence": ["boom"]},
        {"endpoints": ["admin"]},
        {"rate_limit_rps": 0},
        {"outages": [{"start_s": 0, "duration_s": 0}]},
        {"latency_ms": {"dist": "pareto"}},
        {"latency_ms": {"dist": "uniform", "min_ms": 1}},
        {"latency_ms": -5},
        {"typo_rate": 0.1},
    ],
)
def test_bad_configs_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        FaultConfig.from_dict(raw)


def test_config_round_trips_through_json_shape() -> None:
    raw = {
        "latency_ms": {"dist": "uniform", "min_ms": 1.0, "max_ms": 2.0},
        "error_rates": {"503": 0.1},
        "rate_limit_rps": 100.0,
        "hang_rate": 0.01,
        "reset_rate": 0.02,
        "late_rate": 0.03,
        "late_delay_s": 5.0,
        "outages": [{"start_s": 1.0, "duration_s": 2.0}],
        "sequence": ["hang"],
        "endpoints": ["send-sms"],
    }
    config = FaultConfig.from_dict(raw)
    assert FaultConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["error_rates"] == {"503": 0.1}
