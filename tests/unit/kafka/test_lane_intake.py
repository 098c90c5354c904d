"""Fetching and starting by lane: each lane has its own in-flight budget, `critical` records
start first, a lane topic pauses when its lane is full, and a shared topic is fetched past
a full budget while what waits fits the fetch-ahead room. Rounds, not time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
from aiokafka import TopicPartition

from service.builders import record_lane
from service.clock import SteppedClock
from service.kafka.consume import ConsumerLoop
from service.priority import Priority
from tests.unit.kafka.loops import Gated, consumer_loop

SHARED = TopicPartition("in", 0)
BULK = TopicPartition("in.bulk", 0)
CRITICAL = TopicPartition("in.critical", 0)
LANE_TOPICS: dict[str, Priority] = {"in.bulk": "bulk", "in.critical": "critical"}
BUDGET = 1000


def payload(priority: str | None, size: int) -> bytes:
    body: dict[str, Any] = {"event_id": "e", "message": "x" * size}
    if priority:
        body["priority"] = priority
    return orjson.dumps(body)


class Partitions:
    """A consumer of several partitions: hands out each one's records while it is not
    paused; `offsets` are numbered across all partitions so handlers can tell them apart."""

    def __init__(self, records: dict[TopicPartition, list[bytes]]) -> None:
        self._pending: dict[TopicPartition, list[Any]] = {}
        n = 0
        for tp, values in records.items():
            self._pending[tp] = []
            for value in values:
                self._pending[tp].append(SimpleNamespace(offset=n, value=value, timestamp=None))
                n += 1
        self.paused: set[TopicPartition] = set()
        self.rounds = 0
        self.commits: list[dict[TopicPartition, int]] = []
        self._fetched = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return set(self._pending)

    def highwater(self, _tp: TopicPartition) -> int | None:
        return None

    def pause(self, tp: TopicPartition) -> None:
        self.paused.add(tp)

    def resume(self, tp: TopicPartition) -> None:
        self.paused.discard(tp)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.rounds += 1
        self._fetched.set()
        out = {}
        for tp, pending in self._pending.items():
            if pending and tp not in self.paused:
                out[tp], self._pending[tp] = pending[:max_records], pending[max_records:]
        await asyncio.sleep(0)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def more_rounds(self, count: int) -> None:
        target = self.rounds + count
        while self.rounds < target:
            self._fetched.clear()
            await self._fetched.wait()


def lanes_loop(consumer: Partitions, handle: Gated, fetch_ahead: int) -> ConsumerLoop:
    return consumer_loop(
        consumer,
        handle,
        clock=SteppedClock(),
        max_in_flight_bytes=BUDGET,
        lane_of=record_lane(LANE_TOPICS),
        lane_topics=LANE_TOPICS,
        fetch_ahead_bytes=fetch_ahead,
    )


@contextlib.asynccontextmanager
async def running(loop: ConsumerLoop, handle: Gated) -> AsyncIterator[None]:
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop, grace=1.0))
    try:
        yield
    finally:
        handle.finish(*range(100))
        stop.set()
        await runner


async def test_a_critical_record_behind_a_bulk_backlog_on_a_shared_topic_starts_at_once() -> None:
    sizes = [("bulk", 600), ("bulk", 600), ("bulk", 600), ("critical", 50)]
    consumer = Partitions({SHARED: [payload(p, s) for p, s in sizes]})
    handle = Gated()
    loop = lanes_loop(consumer, handle, fetch_ahead=2 * BUDGET)
    async with asyncio.timeout(5):
        async with running(loop, handle):
            await handle.until(lambda: handle.running == {0, 3})
            await consumer.more_rounds(5)
            assert handle.running == {0, 3}  # bulk 1, 2 wait for bulk's budget; critical not
            assert consumer.paused == set()  # 1200 bytes wait: within the fetch-ahead room
    assert handle.started[:2] == [3, 0]  # critical first, even behind the bulk records


async def test_with_no_fetch_ahead_room_the_shared_topic_pauses_once_anything_waits() -> None:
    sizes = [("bulk", 600), ("bulk", 600), ("normal", 600)]
    consumer = Partitions({SHARED: [payload(p, s) for p, s in sizes]})
    handle = Gated()
    loop = lanes_loop(consumer, handle, fetch_ahead=0)
    async with asyncio.timeout(5):
        async with running(loop, handle):
            await handle.until(lambda: handle.running == {0, 2})
            await consumer.more_rounds(3)
            assert consumer.paused == {SHARED}  # bulk 1 waits; normal has its own budget
            handle.finish(0)
            await handle.until(lambda: 1 in handle.running)
            await consumer.more_rounds(3)
            assert consumer.paused == set()


async def test_a_full_lane_pauses_its_own_topic_only() -> None:
    consumer = Partitions(
        {
            BULK: [payload(None, 600), payload(None, 600)],  # bulk by topic: 0, 1
            CRITICAL: [payload("bulk", 50)],  # critical by topic, whatever it says: 2
            SHARED: [payload(None, 100)],  # normal: 3
        }
    )
    handle = Gated()
    loop = lanes_loop(consumer, handle, fetch_ahead=0)
    async with asyncio.timeout(5):
        async with running(loop, handle):
            await handle.until(lambda: handle.running == {0, 2, 3})
            await consumer.more_rounds(3)
            assert consumer.paused == {BULK}  # the bulk backlog stops the bulk topic alone
            handle.finish(0)
            await handle.until(lambda: 1 in handle.running)
            await consumer.more_rounds(3)
            assert consumer.paused == set()
    assert handle.started[0] == 2
