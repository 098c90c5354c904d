"""Client-side rate limit in front of every Push.R request.

A `RateBudget` hands out send slots: `acquire()` reserves the next slot and answers how
many seconds until it is ours. Two implementations:
- `TokenBucket`: this process only (GCRA, i.e. a token bucket kept as one timestamp).
- the Redis limiter in `service.ledger.redis_rate` (same `acquire() -> float`): one budget
  shared by every replica. The composition root passes it in as `shared`.

`RateLimiter` adds a hold that the client sets from a `Retry-After`: when Push.R tells one
caller to come back in N seconds, every caller waits, instead of each one learning it
from its own 429.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from service.clock import Clock
from service.settings import Settings


class RateBudget(Protocol):
    async def acquire(self) -> float:
        """Reserve the next slot; seconds to wait before using it (0 = now)."""
        ...


class TokenBucket:
    """`rate` slots per second, up to `burst` at once, in order of arrival."""

    def __init__(self, rate: float, clock: Clock, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._tat = clock.monotonic()  # theoretical arrival time of the next slot

    async def acquire(self) -> float:
        now = self._clock.monotonic()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        return max(0.0, tat - self._tolerance - now)


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        budget: RateBudget | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self._clock = clock
        self._budget = budget
        self._on_wait = on_wait
        self._hold_until = 0.0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clock: Clock,
        *,
        shared: RateBudget | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> RateLimiter:
        """`shared` (the Redis budget) replaces the local bucket; rate 0 means no limit."""
        budget: RateBudget | None = None
        if settings.rate_limit_rps > 0:
            budget = shared or TokenBucket(settings.rate_limit_rps, clock)
        return cls(clock, budget, on_wait)

    def hold(self, seconds: float) -> None:
        """Let nothing through for `seconds` (a provider's Retry-After)."""
        self._hold_until = max(self._hold_until, self._clock.monotonic() + seconds)

    def held_for(self) -> float:
        return max(0.0, self._hold_until - self._clock.monotonic())

    async def wait(self, max_wait: float | None = None) -> bool:
        """Wait for a turn. False, without waiting for the slot, when the wait would
        exceed `max_wait` (the reserved slot is then given up, which only slows us)."""
        waited = 0.0
        try:
            # A loop: another caller may extend the hold while we sleep.
            while (held := self.held_for()) > 0:
                if max_wait is not None and waited + held > max_wait:
                    return False
                await self._clock.sleep(held)
                waited += held
            if self._budget is not None:
                delay = await self._budget.acquire()
                if max_wait is not None and waited + delay > max_wait:
                    return False
                if delay > 0:
                    await self._clock.sleep(delay)
                    waited += delay
            return True
        finally:
            if waited > 0 and self._on_wait is not None:
                self._on_wait(waited)
