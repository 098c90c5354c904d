"""The clocks tests run on: `ManualClock` moves when something sleeps, `SteppedClock` only
when the test steps it; and the two waits that race a deadline on a clock."""

from __future__ import annotations

import asyncio

from service.clock import ManualClock, SteppedClock, sleep_unless_set, wait_on_clock


async def test_a_manual_clock_sleep_moves_time_and_returns() -> None:
    clock = ManualClock()
    await clock.sleep(2.5)
    await clock.sleep(-1)
    assert clock.monotonic() == 2.5
    assert clock.slept == [2.5, -1]


async def test_a_stepped_sleep_ends_only_when_time_passes_its_end() -> None:
    clock = SteppedClock()
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    short = asyncio.create_task(nap("short", 1.0))
    long = asyncio.create_task(nap("long", 3.0))
    await clock.asleep(1.0)
    await clock.asleep(3.0)
    assert clock.sleeping() == [1.0, 3.0]
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.5)
    await short
    assert woke == ["short"]
    assert clock.sleeping() == [3.0]
    clock.advance(2.0)
    await long
    assert woke == ["short", "long"]
    assert clock.monotonic() == 3.0
    assert clock.now() == 1_700_000_003.0


async def test_a_cancelled_stepped_sleep_is_no_longer_asleep() -> None:
    clock = SteppedClock()
    task = asyncio.create_task(clock.sleep(5.0))
    await clock.asleep()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.sleeping() == []
    clock.advance(10.0)  # nothing left to wake


async def test_asleep_waits_for_the_length_asked() -> None:
    clock = SteppedClock()
    waiter = asyncio.create_task(clock.asleep(2.0))
    one = asyncio.create_task(clock.sleep(1.0))
    await clock.asleep(1.0)
    assert not waiter.done()
    two = asyncio.create_task(clock.sleep(2.0))
    await waiter
    clock.advance(2.0)
    await asyncio.gather(one, two)
    await clock.sleep(0)  # nothing to wait for: returns at once


async def test_sleep_unless_set_returns_when_the_event_is_set_or_the_time_passed() -> None:
    clock = SteppedClock()
    event = asyncio.Event()
    early = asyncio.create_task(sleep_unless_set(clock, 10.0, event))
    await clock.asleep(10.0)
    event.set()
    assert await early is True
    assert clock.sleeping() == []  # the timer is gone with it

    event.clear()
    late = asyncio.create_task(sleep_unless_set(clock, 10.0, event))
    await clock.asleep(10.0)
    clock.advance(10.0)
    assert await late is False
    event.set()
    assert await sleep_unless_set(clock, 10.0, event) is True


async def test_wait_on_clock_returns_what_is_still_running_at_the_deadline() -> None:
    clock = SteppedClock()
    quick_done, never = asyncio.Event(), asyncio.Event()
    quick = asyncio.create_task(quick_done.wait())
    stuck = asyncio.create_task(never.wait())
    waiting = asyncio.create_task(wait_on_clock(clock, 5.0, {quick, stuck}))
    await clock.asleep(5.0)
    quick_done.set()
    await quick
    for _ in range(3):  # loop turns (not time) for the waiter to see `quick` finish
        await asyncio.sleep(0)
    assert not waiting.done()  # one task left and no time passed: still waiting
    clock.advance(5.0)
    assert await waiting == {stuck}
    assert not stuck.cancelled()  # cancelling is the caller's decision
    stuck.cancel()
    assert await wait_on_clock(clock, 5.0, set()) == set()


async def test_wait_on_clock_returns_as_soon_as_every_task_is_done() -> None:
    clock = SteppedClock()
    release = asyncio.Event()
    task = asyncio.create_task(release.wait())
    waiting = asyncio.create_task(wait_on_clock(clock, 5.0, {task}))
    await clock.asleep(5.0)
    release.set()
    assert await waiting == set()
    assert clock.sleeping() == []
