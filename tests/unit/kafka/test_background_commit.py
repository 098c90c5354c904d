"""Offsets are committed from a task beside the fetch loop: a slow commit never stalls
fetching, a commit never passes unfinished work, and stopping still ends with a commit of
everything that finished."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from service.kafka.consume import ConsumerLoop
from tests.unit.kafka.loops import consumer_loop

TP = TopicPartition("in", 0)
INTERVAL = 0.02


class FakeConsumer:
    """Hands out offsets 0..count-1 once, then nothing; each commit takes `commit_delay`."""

    def __init__(self, count: int, commit_delay: float) -> None:
        self._pending = [SimpleNamespace(offset=i) for i in range(count)]
        self._commit_delay = commit_delay
        self.commits: list[dict[TopicPartition, int]] = []
        self.fetches_during_commit = 0
        self._committing = False
        self.committed = asyncio.Condition()

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, _tp: TopicPartition) -> int | None:
        return None

    def pause(self, *_: Any) -> None: ...

    def resume(self, *_: Any) -> None: ...

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        if self._committing:
            self.fetches_during_commit += 1
        if self._pending:
            batch, self._pending = self._pending[:max_records], self._pending[max_records:]
            return {TP: batch}
        await asyncio.sleep(min(timeout_ms / 1000, 0.005))
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self._committing = True
        try:
            await asyncio.sleep(self._commit_delay)
        finally:
            self._committing = False
        async with self.committed:
            self.commits.append(dict(offsets))
            self.committed.notify_all()

    async def until(self, predicate: Any) -> None:
        async with self.committed:
            await self.committed.wait_for(lambda: predicate(self.commits))


def loop_over(consumer: FakeConsumer, handle: Any) -> ConsumerLoop:
    return consumer_loop(consumer, handle, commit_interval=INTERVAL)


async def test_background_commits_never_pass_unfinished_work_and_the_last_holds_all() -> None:
    release = asyncio.Event()

    async def handle(record: Any) -> None:
        if record.offset == 3:
            await release.wait()  # one slow record in the middle

    consumer = FakeConsumer(count=6, commit_delay=0.0)
    loop = loop_over(consumer, handle)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=5))
    async with asyncio.timeout(5):
        await consumer.until(bool)
        await asyncio.sleep(5 * INTERVAL)  # more rounds, nothing new finished
        # offsets 0..2 finished, 3 is still running: nothing past it may be committed
        assert consumer.commits
        assert all(c == {TP: 3} for c in consumer.commits)
        release.set()
        await consumer.until(lambda commits: commits[-1] == {TP: 6})
        stop.set()
        await runner


async def test_a_slow_commit_does_not_stall_fetching() -> None:
    async def handle(_: Any) -> None:
        return None

    consumer = FakeConsumer(count=3, commit_delay=10 * INTERVAL)
    loop = loop_over(consumer, handle)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=5))
    async with asyncio.timeout(5):
        await consumer.until(bool)
        stop.set()
        await runner
    assert consumer.fetches_during_commit > 0
    assert consumer.commits[-1] == {TP: 3}


async def test_stopping_mid_drain_commits_what_finished_and_nothing_after() -> None:
    stuck = asyncio.Event()

    async def handle(record: Any) -> None:
        if record.offset == 1:
            stuck.set()
            await asyncio.Event().wait()  # never finishes: abandoned at the grace deadline

    consumer = FakeConsumer(count=4, commit_delay=0.0)
    loop = loop_over(consumer, handle)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=0.05))
    async with asyncio.timeout(5):
        await stuck.wait()
        await asyncio.sleep(0.01)  # let offsets 0, 2 and 3 finish
        stop.set()
        await runner
    assert consumer.commits[-1] == {TP: 1}
    assert all(c == {TP: 1} for c in consumer.commits)
