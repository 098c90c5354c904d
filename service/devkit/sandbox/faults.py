"""Fault configuration and the per-request decision (seeded random source, injected clock).

JSON format (every key optional; `POST /_sandbox/faults` replaces the whole config):

    {
      "latency_ms": 20,                      # or {"dist": "uniform", "min_ms": 5, "max_ms": 50}
                                             #    {"dist": "exponential", "mean_ms": 20}
                                             #    {"dist": "normal", "mean_ms": 50, "stddev_ms": 10}
      "error_rates": {"503": 0.1, "429": 0.05},  # 429, 500, 502, 503, 504; not processed
      "retry_after_s": 1,                    # Retry-After of injected 429s
      "rate_limit_rps": 500,                 # token bucket; over it -> 429 + Retry-After
      "rate_limit_burst": 500,               # bucket size (default: one second's worth)
      "hang_rate": 0.01,                     # request read, never answered, not processed
      "hang_s": null,                        # null: until the client goes; else close after
      "reset_rate": 0.01,                    # processed, half the answer sent, then TCP RST
      "late_rate": 0.01,                     # processed (charged), answered after late_delay_s
      "late_delay_s": 30,
      "outages": [{"start_s": 5, "duration_s": 2}],  # listening socket closed, then reopened
      "sequence": ["503", "late", "ok"],     # forced faults for the next requests, in order
      "endpoints": ["send-sms"]              # which endpoints faults apply to (default: the
                                             # SMS API's three; "token", "token-refresh" too)
    }

Rates are probabilities per request, drawn once: error statuses, then hang, reset, late;
their sum must be <= 1. Latency is added to every faultable answer. Admin endpoints are
never faulted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

ERROR_STATUSES = frozenset({429, 500, 502, 503, 504})
KINDS = frozenset({"ok", "hang", "reset", "late"} | {str(s) for s in ERROR_STATUSES})
ENDPOINTS = frozenset({"send-sms", "custom", "list"})
# The JWT endpoints can be faulted too, when named: by default a fault config aimed at the
# SMS API leaves obtaining a token alone.
FAULTABLE = ENDPOINTS | {"token", "token-refresh"}
DISTRIBUTIONS = {
    "fixed": ("ms",),
    "uniform": ("min_ms", "max_ms"),
    "exponential": ("mean_ms",),
    "normal": ("mean_ms", "stddev_ms"),
}


@dataclass(frozen=True, slots=True)
class Latency:
    dist: str = "fixed"
    params: tuple[float, ...] = (0.0,)

    @classmethod
    def parse(cls, raw: object) -> Latency:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = {"dist": "fixed", "ms": raw}
        elif isinstance(raw, str):  # CLI form: "20", "uniform:5:50", "exponential:20"
            dist, *nums = raw.split(":")
            if not nums:
                dist, nums = "fixed", [dist]
            named: dict[str, Any] = dict(
                zip(DISTRIBUTIONS.get(dist, ()), map(float, nums), strict=False)
            )
            named["dist"] = dist
            raw = named
        if not isinstance(raw, dict) or raw.get("dist") not in DISTRIBUTIONS:
            raise ValueError(f"latency: a number of ms or a dist in {sorted(DISTRIBUTIONS)}")
        names = DISTRIBUTIONS[raw["dist"]]
        if set(raw) != {"dist", *names}:
            raise ValueError(f"latency {raw['dist']!r} takes {list(names)}")
        params = tuple(float(raw[n]) for n in names)
        if any(p < 0 for p in params):
            raise ValueError("latency parameters must be >= 0")
        return cls(raw["dist"], params)

    def to_json(self) -> Any:
        if self.dist == "fixed":
            return self.params[0]
        return {"dist": self.dist, **dict(zip(DISTRIBUTIONS[self.dist], self.params, strict=True))}

    def sample_s(self, rng: random.Random) -> float:
        p = self.params
        if self.dist == "fixed":
            ms = p[0]
        elif self.dist == "uniform":
            ms = rng.uniform(p[0], p[1])
        elif self.dist == "exponential":
            ms = rng.expovariate(1.0 / p[0]) if p[0] > 0 else 0.0
        else:
            ms = max(0.0, rng.gauss(p[0], p[1]))
        return ms / 1000.0


@dataclass(frozen=True, slots=True)
class Outage:
    start_s: float
    duration_s: float


@dataclass(slots=True)
class FaultConfig:
    latency: Latency | None = None
    error_rates: dict[int, float] = field(default_factory=dict)
    retry_after_s: float = 1.0
    rate_limit_rps: float | None = None
    rate_limit_burst: float | None = None
    hang_rate: float = 0.0
    hang_s: float | None = None
    reset_rate: float = 0.0
    late_rate: float = 0.0
    late_delay_s: float = 30.0
    outages: list[Outage] = field(default_factory=list)
    sequence: list[str] = field(default_factory=list)
    endpoints: frozenset[str] = ENDPOINTS

    def __post_init__(self) -> None:
        bad = set(self.error_rates) - ERROR_STATUSES
        if bad:
            raise ValueError(f"error_rates: statuses {sorted(bad)} not in {sorted(ERROR_STATUSES)}")
        rates = [*self.error_rates.values(), self.hang_rate, self.reset_rate, self.late_rate]
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates must each be in [0, 1] and sum to <= 1")
        unknown = [k for k in self.sequence if k not in KINDS]
        if unknown:
            raise ValueError(f"sequence: unknown kinds {unknown}; use {sorted(KINDS)}")
        if not self.endpoints <= FAULTABLE:
            raise ValueError(f"endpoints: use {sorted(FAULTABLE)}")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError("rate_limit_rps must be > 0")
        if any(o.start_s < 0 or o.duration_s <= 0 for o in self.outages):
            raise ValueError("outages need start_s >= 0 and duration_s > 0")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FaultConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "latency"} | {"latency_ms"}
        extra = set(raw) - known
        if extra:
            raise ValueError(f"unknown fault keys {sorted(extra)}; known: {sorted(known)}")

        def opt(name: str) -> float | None:
            value = raw.get(name)
            return None if value is None else float(value)

        latency = raw.get("latency_ms")
        return cls(
            latency=None if latency is None else Latency.parse(latency),
            error_rates={int(k): float(v) for k, v in raw.get("error_rates", {}).items()},
            retry_after_s=float(raw.get("retry_after_s", 1.0)),
            rate_limit_rps=opt("rate_limit_rps"),
            rate_limit_burst=opt("rate_limit_burst"),
            hang_rate=float(raw.get("hang_rate", 0.0)),
            hang_s=opt("hang_s"),
            reset_rate=float(raw.get("reset_rate", 0.0)),
            late_rate=float(raw.get("late_rate", 0.0)),
            late_delay_s=float(raw.get("late_delay_s", 30.0)),
            outages=[Outage(float(o["start_s"]), float(o["duration_s"]))
                     for o in raw.get("outages", [])],
            sequence=[str(k) for k in raw.get("sequence", [])],
            endpoints=frozenset(raw.get("endpoints", ENDPOINTS)),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": None if self.latency is None else self.latency.to_json(),
            "error_rates": {str(k): v for k, v in sorted(self.error_rates.items())},
            "retry_after_s": self.retry_after_s,
            "rate_limit_rps": self.rate_limit_rps,
            "rate_limit_burst": self.rate_limit_burst,
            "hang_rate": self.hang_rate,
            "hang_s": self.hang_s,
            "reset_rate": self.reset_rate,
            "late_rate": self.late_rate,
            "late_delay_s": self.late_delay_s,
            "outages": [{"start_s": o.start_s, "duration_s": o.duration_s} for o in self.outages],
            "sequence": list(self.sequence),
            "endpoints": sorted(self.endpoints),
        }

    @property
    def per_request(self) -> bool:
        """Whether any request-level fault is configured (outages act on the listener)."""
        return bool(
            self.latency or self.error_rates or self.rate_limit_rps or self.sequence
            or self.hang_rate or self.reset_rate or self.late_rate
        )  # fmt: skip
