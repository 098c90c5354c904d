"""The in-flight byte budget: records are counted by count *and* payload size, because one
bulk event can hold as much as thousands of single ones. Over the budget fetching pauses
and fetched records wait undecoded; a record larger than the budget still runs, alone;
commits never pass a waiting record. "Nothing else starts" is shown over further fetch
rounds; commits and deadlines run on a stepped clock."""

from __future__ import annotations

import asyncio

from service.clock import SteppedClock
from service.kafka.consume import ConsumerLoop
from tests.unit.kafka.loops import TP, FakeConsumer, Gated, consumer_loop

BUDGET = 1000
INTERVAL = 0.5
GRACE = 5.0
REVOKE_DEADLINE = 3.0


def loop_over(
    consumer: FakeConsumer, handle: Gated, clock: SteppedClock, budget: int | None = BUDGET
) -> ConsumerLoop:
    return consumer_loop(
        consumer,
        handle,
        clock=clock,
        commit_interval=INTERVAL,
        max_in_flight_bytes=budget,
        revoke_deadline=REVOKE_DEADLINE,
    )


async def test_over_the_budget_fetching_pauses_records_wait_and_resume_in_order() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([400] * 6)
    handle = Gated()
    loop = loop_over(consumer, handle, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: len(handle.running) == 2)
        await consumer.more_rounds(5)  # more fetch rounds: nothing else may start
        assert handle.running == {0, 1}  # 800 bytes; a third would pass 1000
        assert consumer.paused
        handle.finish(0)
        await handle.until(lambda: handle.running == {1, 2})
        await consumer.more_rounds(5)
        assert handle.running == {1, 2}
        # offset 1 runs and 2.. wait: a commit round may not pass offset 1
        await clock.asleep(INTERVAL)
        clock.advance(INTERVAL)
        await consumer.until(lambda: bool(consumer.commits))
        assert consumer.commits == [{TP: 1}]
        handle.finish(*range(6))
        await handle.until(lambda: len(handle.started) == 6 and not handle.running)
        await consumer.until(lambda: not consumer.paused)
        assert consumer.resumes >= 1
        stop.set()
        await runner
    assert handle.started == list(range(6))
    assert consumer.commits[-1] == {TP: 6}


async def test_a_record_larger_than_the_budget_runs_alone_and_does_not_deadlock() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([100, 5 * BUDGET, 100, 100])
    handle = Gated()
    loop = loop_over(consumer, handle, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0})
        await consumer.more_rounds(5)
        assert handle.running == {0}  # the big one waits for the small one ahead of it
        handle.finish(0)
        await handle.until(lambda: handle.running == {1})
        await consumer.more_rounds(5)
        assert handle.running == {1}  # alone: nothing joins it while it is over budget
        handle.finish(1, 2, 3)
        await handle.until(lambda: len(handle.started) == 4 and not handle.running)
        stop.set()
        await runner
    assert consumer.commits[-1] == {TP: 4}


async def test_stopping_never_starts_waiting_records_and_commits_before_them() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([600, 600, 600])
    handle = Gated()
    loop = loop_over(consumer, handle, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0})
        stop.set()
        await clock.asleep(GRACE)  # draining offset 0: a finish now may start nothing else
        handle.finish(0)
        await runner
    assert handle.started == [0]  # 1 and 2 are redelivered to whoever consumes next
    assert consumer.commits[-1] == {TP: 1}


async def test_without_a_budget_only_the_record_counts_bound() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([5 * BUDGET] * 3)
    handle = Gated()
    loop = loop_over(consumer, handle, clock, budget=None)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0, 1, 2})
        handle.finish(0, 1, 2)
        stop.set()
        await runner
    assert consumer.commits[-1] == {TP: 3}


async def test_a_revoke_drops_waiting_records_of_the_partition_unstarted() -> None:
    clock = SteppedClock()
    consumer = FakeConsumer([600, 600])
    handle = Gated()
    loop = loop_over(consumer, handle, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=GRACE))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0})
        revoking = asyncio.create_task(loop.on_revoked({TP}))
        await clock.asleep(REVOKE_DEADLINE)  # the revoke waits for offset 0 to finish
        assert not revoking.done()
        handle.finish(0)
        await revoking
        await consumer.more_rounds(5)
        stop.set()
        await runner
    assert handle.started == [0]  # offset 1 belongs to the new owner now
    assert handle.cancelled == []  # offset 0 finished inside the revoke deadline
