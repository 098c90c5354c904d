from __future__ import annotations

import asyncio

import pytest

from service.clock import ManualClock
from service.pushr.ratelimit import RateLimiter, TokenBucket
from service.settings import Settings


async def test_bucket_spaces_requests_evenly() -> None:
    clock = ManualClock()
    waits: list[float] = []
    limiter = RateLimiter(clock, TokenBucket(10.0, clock), on_wait=waits.append)
    for _ in range(5):
        assert await limiter.wait()
    assert clock.slept == pytest.approx([0.1] * 4)
    assert waits == pytest.approx([0.1] * 4)


async def test_concurrent_callers_get_ordered_slots() -> None:
    clock = ManualClock()
    bucket = TokenBucket(4.0, clock)
    assert [await bucket.acquire() for _ in range(4)] == pytest.approx([0, 0.25, 0.5, 0.75])


async def test_burst_allows_that_many_at_once() -> None:
    clock = ManualClock()
    bucket = TokenBucket(2.0, clock, burst=3)
    assert [await bucket.acquire() for _ in range(5)] == pytest.approx([0, 0, 0, 0.5, 1.0])
    clock.advance(10)  # idle time refills up to the burst, not beyond
    assert [await bucket.acquire() for _ in range(4)] == pytest.approx([0, 0, 0, 0.5])


async def test_hold_stops_everyone() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)  # no rate limit, but a Retry-After hold still applies
    limiter.hold(3.0)
    results = await asyncio.gather(limiter.wait(), limiter.wait())
    assert list(results) == [True, True]  # gather answers a list
    assert clock.slept[0] == 3.0
    assert clock.monotonic() == 3.0


async def test_wait_beyond_budget_is_refused_without_sleeping() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock, TokenBucket(1.0, clock))
    assert await limiter.wait(max_wait=0.5)
    assert not await limiter.wait(max_wait=0.5)  # next slot is 1 s away
    limiter.hold(10)
    assert not await limiter.wait(max_wait=5)
    assert clock.slept == []


class FixedBudget:
    def __init__(self, wait: float) -> None:
        self.calls = 0
        self.wait = wait

    async def acquire(self) -> float:
        self.calls += 1
        return self.wait


async def test_from_settings() -> None:
    clock = ManualClock()
    off = RateLimiter.from_settings(Settings(rate_limit_rps=0), clock)
    for _ in range(100):
        await off.wait()
    assert clock.slept == []
    shared = FixedBudget(0.25)
    on = RateLimiter.from_settings(Settings(rate_limit_rps=50), clock, shared=shared)
    await on.wait()
    assert shared.calls == 1
    assert clock.slept == [0.25]
