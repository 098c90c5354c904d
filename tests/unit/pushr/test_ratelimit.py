from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.clock import ManualClock, SteppedClock
from service.priority import LaneOrder, Priority
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


# --- lanes: who takes the next slot ---------------------------------------------------------


async def _queue_up(limiter: RateLimiter, lanes: list[Priority]) -> tuple[list[str], list[Any]]:
    """Callers of the given lanes, queued in this order behind a slot already taken; the
    order in which they were let through."""
    order: list[str] = []

    async def caller(lane: Priority, name: str) -> None:
        assert await limiter.wait(lane=lane)
        order.append(name)

    assert await limiter.wait()  # the first slot is taken: everyone below waits in line
    tasks = []
    for i, lane in enumerate(lanes):
        tasks.append(asyncio.create_task(caller(lane, f"{lane}-{i}")))
    return order, tasks


async def test_a_critical_caller_takes_the_next_slot_ahead_of_a_bulk_queue() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(clock, TokenBucket(10.0, clock))
    async with asyncio.timeout(5):
        order, tasks = await _queue_up(limiter, ["bulk"] * 5)
        await clock.asleep()  # the dispatcher holds the next slot, due in 0.1 s
        late = asyncio.create_task(limiter.wait(lane="critical"))
        await asyncio.sleep(0)
        assert limiter.waiting("critical") == 1
        clock.advance(0.1)
        assert await late
        assert order == []  # the slot went to the critical caller, not the first bulk one
        for _ in range(5):
            await clock.asleep()
            clock.advance(0.1)
        await asyncio.gather(*tasks)
    assert order == [f"bulk-{i}" for i in range(5)]  # first come, first served in a lane


async def test_normal_and_bulk_share_slots_by_weight_and_bulk_never_starves() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock, TokenBucket(10.0, clock), order=LaneOrder(3, 1))
    normal: Priority = "normal"
    bulk: Priority = "bulk"
    queued = [normal] * 12 + [bulk] * 12
    async with asyncio.timeout(5):
        order, tasks = await _queue_up(limiter, queued)
        await asyncio.gather(*tasks)
    lanes = [name.split("-")[0] for name in order]
    # while both wait: 3 normal to 1 bulk in every 4 slots, interleaved
    for start in range(0, 16, 4):
        assert sorted(lanes[start : start + 4]) == ["bulk", "normal", "normal", "normal"]
    assert lanes[16:] == ["bulk"] * 8  # normal is done: bulk has every slot
    assert clock.slept == pytest.approx([0.1] * 24)  # the rate never changes


async def test_a_hold_releases_its_waiters_in_lane_order() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(clock)  # no rate limit: only Retry-After holds
    limiter.hold(2.0)
    order: list[str] = []

    async def caller(lane: Priority) -> None:
        assert await limiter.wait(lane=lane)
        order.append(lane)

    tasks = [asyncio.create_task(caller(lane)) for lane in ("bulk", "normal", "critical")]
    async with asyncio.timeout(5):
        await clock.asleep()
        clock.advance(2.0)
        await asyncio.gather(*tasks)
    assert order == ["critical", "normal", "bulk"]


async def test_a_caller_that_gives_up_leaves_the_line() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(clock, TokenBucket(1.0, clock))
    assert await limiter.wait()
    async with asyncio.timeout(5):
        first = asyncio.create_task(limiter.wait(max_wait=2.0))  # its own slot, 1 s away
        await clock.asleep(1.0)
        queued = asyncio.create_task(limiter.wait(max_wait=0.5))  # behind it: gives up
        await clock.asleep(0.5)
        clock.advance(0.5)
        assert not await queued
        assert limiter.waiting("normal") == 1
        clock.advance(0.5)
        assert await first
    assert limiter.waiting("normal") == 0
