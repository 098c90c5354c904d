"""The per-request fault decision: seeded random source and injected clock, no I/O."""

from __future__ import annotations

import math
import random
from typing import NamedTuple

from service.clock import Clock
from service.devkit.sandbox.faults import FaultConfig


class Decision(NamedTuple):
    kind: str  # ok | error | rate_limited | hang | reset | late
    status: int | None = None  # for error
    delay_s: float = 0.0  # before answering (latency, plus late_delay_s when late)
    retry_after_s: int | None = None


class FaultEngine:
    """Decides each faultable request's fate; `None` means answer at once, untouched."""

    def __init__(self, config: FaultConfig, rng: random.Random, clock: Clock) -> None:
        self.rng = rng
        self.clock = clock
        self.config = config

    @property
    def config(self) -> FaultConfig:
        return self._config

    @config.setter
    def config(self, config: FaultConfig) -> None:
        self._config = config
        self._active = config.per_request
        self._sequence = list(config.sequence)
        rps = config.rate_limit_rps
        self._burst = max(1.0, config.rate_limit_burst or rps or 0.0)
        self._tokens = self._burst
        self._refilled = self.clock.monotonic()

    def decide(self, endpoint: str) -> Decision | None:
        if not self._active:
            return None
        cfg = self._config
        if endpoint not in cfg.endpoints:
            return None
        delay = cfg.latency.sample_s(self.rng) if cfg.latency is not None else 0.0
        if self._sequence:
            return self._forced(self._sequence.pop(0), delay)
        if cfg.rate_limit_rps is not None:
            wait = self._take_token(cfg.rate_limit_rps)
            if wait > 0:
                return Decision("rate_limited", 429, delay, max(1, math.ceil(wait)))
        if cfg.error_rates or cfg.hang_rate or cfg.reset_rate or cfg.late_rate:
            point = self.rng.random()
            for status, rate in cfg.error_rates.items():
                point -= rate
                if point < 0:
                    return self._error(status, delay)
            for kind, rate in (("hang", cfg.hang_rate), ("reset", cfg.reset_rate),
                               ("late", cfg.late_rate)):  # fmt: skip
                point -= rate
                if point < 0:
                    return self._forced(kind, delay)
        return Decision("ok", None, delay) if delay > 0 else None

    def _forced(self, kind: str, delay: float) -> Decision | None:
        if kind == "ok":
            return Decision("ok", None, delay) if delay > 0 else None
        if kind == "late":
            return Decision("late", None, delay + self._config.late_delay_s)
        if kind in ("hang", "reset"):
            return Decision(kind, None, delay)
        return self._error(int(kind), delay)

    def _error(self, status: int, delay: float) -> Decision:
        retry_after = max(1, math.ceil(self._config.retry_after_s)) if status == 429 else None
        return Decision("error", status, delay, retry_after)

    def _take_token(self, rps: float) -> float:
        """Seconds until a token is free; 0 when one was taken."""
        now = self.clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * rps)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / rps
