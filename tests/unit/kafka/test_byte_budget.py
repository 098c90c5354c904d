"""The in-flight byte budget: records are counted by count *and* payload size, because one
bulk event can hold as much as thousands of single ones. Over the budget fetching pauses
and fetched records wait undecoded; a record larger than the budget still runs, alone;
commits never pass a waiting record."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from service.kafka.consume import ConsumerLoop
from tests.unit.kafka.loops import consumer_loop

TP = TopicPartition("in", 0)
BUDGET = 1000


class FakeConsumer:
    """Hands out the given records (as fetched, in order) while not paused."""

    def __init__(self, sizes: list[int]) -> None:
        self._pending = [
            SimpleNamespace(offset=i, value=b"x" * size) for i, size in enumerate(sizes)
        ]
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, _tp: TopicPartition) -> int | None:
        return None

    def pause(self, *_: Any) -> None:
        self.paused = True
        self.pauses += 1

    def resume(self, *_: Any) -> None:
        self.paused = False
        self.resumes += 1

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        if self._pending and not self.paused:
            batch, self._pending = self._pending[:max_records], self._pending[max_records:]
            return {TP: batch}
        await asyncio.sleep(0.002)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


class Gated:
    """A handler whose records finish only when released; records what runs."""

    def __init__(self) -> None:
        self.running: set[int] = set()
        self.started: list[int] = []
        self.release: dict[int, asyncio.Event] = {}
        self.changed = asyncio.Condition()

    async def __call__(self, record: Any) -> None:
        event = self.release.setdefault(record.offset, asyncio.Event())
        async with self.changed:
            self.running.add(record.offset)
            self.started.append(record.offset)
            self.changed.notify_all()
        await event.wait()
        async with self.changed:
            self.running.discard(record.offset)
            self.changed.notify_all()

    def finish(self, offset: int) -> None:
        self.release.setdefault(offset, asyncio.Event()).set()

    async def until(self, predicate: Any) -> None:
        async with self.changed:
            await self.changed.wait_for(predicate)


def loop_over(consumer: FakeConsumer, handle: Any, budget: int | None = BUDGET) -> ConsumerLoop:
    return consumer_loop(consumer, handle, commit_interval=0.01, max_in_flight_bytes=budget)


async def test_over_the_budget_fetching_pauses_records_wait_and_resume_in_order() -> None:
    consumer = FakeConsumer([400] * 6)
    handle = Gated()
    loop = loop_over(consumer, handle)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=5))
    async with asyncio.timeout(5):
        await handle.until(lambda: len(handle.running) == 2)
        await asyncio.sleep(0.05)  # more fetch rounds: nothing else may start
        assert handle.running == {0, 1}  # 800 bytes; a third would pass 1000
        assert consumer.paused
        handle.finish(0)
        await handle.until(lambda: handle.running == {1, 2})
        # offset 1 runs and 2.. wait: no commit may pass offset 1
        await asyncio.sleep(0.05)
        assert all(c[TP] <= 1 for c in consumer.commits)
        for offset in range(6):
            handle.finish(offset)
        await handle.until(lambda: len(handle.started) == 6 and not handle.running)
        await asyncio.sleep(0.05)
        assert not consumer.paused
        assert consumer.resumes >= 1
        stop.set()
        await runner
    assert handle.started == list(range(6))
    assert consumer.commits[-1] == {TP: 6}


async def test_a_record_larger_than_the_budget_runs_alone_and_does_not_deadlock() -> None:
    consumer = FakeConsumer([100, 5 * BUDGET, 100, 100])
    handle = Gated()
    loop = loop_over(consumer, handle)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=5))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0})
        await asyncio.sleep(0.03)
        assert handle.running == {0}  # the big one waits for the small one ahead of it
        handle.finish(0)
        await handle.until(lambda: handle.running == {1})
        await asyncio.sleep(0.03)
        assert handle.running == {1}  # alone: nothing joins it while it is over budget
        handle.finish(1)
        handle.finish(2)
        handle.finish(3)
        await handle.until(lambda: len(handle.started) == 4 and not handle.running)
        stop.set()
        await runner
    assert consumer.commits[-1] == {TP: 4}


async def test_stopping_never_starts_waiting_records_and_commits_before_them() -> None:
    consumer = FakeConsumer([600, 600, 600])
    handle = Gated()
    loop = loop_over(consumer, handle)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=5))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0})
        stop.set()
        await asyncio.sleep(0.02)
        handle.finish(0)
        await runner
    assert handle.started == [0]  # 1 and 2 are redelivered to whoever consumes next
    assert consumer.commits[-1] == {TP: 1}


async def test_without_a_budget_only_the_record_counts_bound() -> None:
    consumer = FakeConsumer([5 * BUDGET] * 3)
    handle = Gated()
    loop = loop_over(consumer, handle, budget=None)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=5))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0, 1, 2})
        for offset in range(3):
            handle.finish(offset)
        stop.set()
        await runner


async def test_a_revoke_drops_waiting_records_of_the_partition_unstarted() -> None:
    consumer = FakeConsumer([600, 600])
    handle = Gated()
    loop = loop_over(consumer, handle)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=5))
    async with asyncio.timeout(5):
        await handle.until(lambda: handle.running == {0})
        revoking = asyncio.create_task(loop.on_revoked({TP}))
        await asyncio.sleep(0.02)
        handle.finish(0)
        await revoking
        await asyncio.sleep(0.02)
        stop.set()
        await runner
    assert handle.started == [0]  # offset 1 belongs to the new owner now
