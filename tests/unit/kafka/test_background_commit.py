"""Offsets are committed from a task beside the fetch loop: a slow commit never stalls
fetching, a commit never passes unfinished work, and stopping still ends with a commit of
everything that finished. The commit interval and the grace period run on a stepped clock:
rounds happen when the test moves time, and only then."""

from __future__ import annotations

import asyncio

from service.clock import SteppedClock
from service.kafka.consume import ConsumerLoop
from tests.unit.kafka.loops import TP, FakeConsumer, Gated, consumer_loop

INTERVAL = 0.5
GRACE = 5.0


def loop_over(consumer: FakeConsumer, handle: Gated, clock: SteppedClock) -> ConsumerLoop:
    return consumer_loop(consumer, handle, clock=clock, commit_interval=INTERVAL)


async def commit_round(clock: SteppedClock) -> None:
    """One interval passes; return once the committer has finished the round and sleeps."""
    await clock.asleep(INTERVAL)
    clock.advance(INTERVAL)
    await clock.asleep(INTERVAL)


async def test_background_commits_never_pass_unfinished_work_and_the_last_holds_all() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([0] * 6)
    handle = Gated()
    handle.finish(0, 1, 2, 4, 5)  # offset 3 is slow: it waits for the test
    loop = loop_over(consumer, handle, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: len(handle.finished) == 5)
        await consumer.more_rounds(3)
        assert consumer.commits == []  # no interval has passed: no round yet
        for _ in range(5):
            await commit_round(clock)
        # offsets 0..2 finished, 3 is still running: nothing past it may be committed, and
        # rounds with nothing new to commit send nothing
        assert consumer.commits == [{TP: 3}]
        handle.finish(3)
        await handle.until(lambda: len(handle.finished) == 6)
        await commit_round(clock)
        assert consumer.commits == [{TP: 3}, {TP: 6}]
        stop.set()
        await runner
    assert consumer.commits == [{TP: 3}, {TP: 6}]  # the final commit had nothing to add


async def test_a_slow_commit_does_not_stall_fetching() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([0] * 3, hold_commits=True)
    handle = Gated()
    handle.finish(0, 1, 2)
    loop = loop_over(consumer, handle, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: len(handle.finished) == 3)
        await clock.asleep(INTERVAL)
        clock.advance(INTERVAL)
        await consumer.until(lambda: consumer.committing)
        await consumer.until(lambda: consumer.fetches_during_commit >= 3)
        consumer.commits_flow.set()
        await consumer.until(lambda: bool(consumer.commits))
        stop.set()
        await runner
    assert consumer.commits == [{TP: 3}]


async def test_stopping_mid_drain_commits_what_finished_and_nothing_after() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([0] * 4)
    handle = Gated()
    handle.finish(0, 2, 3)  # offset 1 never finishes: abandoned at the grace deadline
    loop = loop_over(consumer, handle, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: len(handle.finished) == 3 and handle.running == {1})
        await commit_round(clock)
        assert consumer.commits == [{TP: 1}]
        stop.set()
        await clock.asleep(GRACE)  # draining: offset 1 gets the whole grace period
        assert not runner.done()
        clock.advance(GRACE)
        await runner
    assert handle.cancelled == [1]  # abandoned at the deadline, not before
    assert consumer.commits == [{TP: 1}]  # the final commit had nothing past offset 1
