"""Background readers of the topics the benchmark watches: one loop, one wait, for every use.

`TopicReader` reads a topic from its start in a task and wakes waiters whenever records
arrive; a subclass says what one record means (`take`). `OutboundReader` is the relay's
outbound topic (final statuses, `accepted`, bulk results' times); the peers' result reader
lives beside the peers (`tests/bench/peers/harness.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer


class TopicReader:
    """Reads one topic from the earliest offset, without a group, until stopped."""

    def __init__(self, bootstrap: str, topic: str, poll_ms: int = 200) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        self._poll_ms = poll_ms
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def take(self, record: Any) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=self._poll_ms)
            for records in batches.values():
                for record in records:
                    self.take(record)
            if batches:
                self._changed.set()

    async def wait_until(self, done: Callable[[], bool], bound: float, tick: float = 1.0) -> bool:
        """Until `done()` holds (True) or `bound` seconds pass (False); looks again at least
        every `tick` seconds, for conditions that also watch something besides the topic."""
        deadline = time.monotonic() + bound
        while not done():
            if time.monotonic() >= deadline:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(tick, deadline - time.monotonic()))
        return True


class OutboundReader(TopicReader):
    """The relay's outbound topic: each event's first final status and `accepted`, by broker
    time, and the broker times of the results of events whose id starts `bulk_prefix`."""

    def __init__(self, bootstrap: str, topic: str, bulk_prefix: str | None = None) -> None:
        super().__init__(bootstrap, topic)
        self.finals: dict[str, tuple[int, str]] = {}  # event_id -> (broker ts ms, status)
        self.accepted: dict[str, int] = {}  # event_id -> broker ts ms of `accepted`
        self.bulk_results: list[int] = []
        self.records = 0
        self.timestamp_types: set[int] = set()
        self._bulk_prefix = bulk_prefix

    def take(self, record: Any) -> None:
        self.records += 1
        value: bytes = record.value
        if b'"type":"status"' not in value:
            if self._bulk_prefix is not None and self._is_bulk_result(value):
                self.bulk_results.append(record.timestamp)
            return
        body = orjson.loads(value)
        if body.get("status") == "accepted":
            self.accepted.setdefault(body["event_id"], record.timestamp)
            return
        self.timestamp_types.add(record.timestamp_type)
        self.finals.setdefault(body["event_id"], (record.timestamp, body["status"]))

    def _is_bulk_result(self, value: bytes) -> bool:
        if b'"type":"result"' not in value:
            return False
        event_id: str = orjson.loads(value).get("event_id", "")
        return self._bulk_prefix is not None and event_id.startswith(self._bulk_prefix)

    async def wait_for(self, ids: list[str], bound: float) -> int:
        """Wait until every id has a final status (or `bound` s); returns how many are missing."""
        await self.wait_until(lambda: all(i in self.finals for i in ids), bound)
        return sum(1 for i in ids if i not in self.finals)
