"""A `ConsumerLoop` over a scripted consumer, on a clock the test steps.

`FakeConsumer` is the part of `AIOKafkaConsumer` the loop uses. Every `getmany` is one
fetch round and returns at the next turn of the event loop (a real one waits on the
broker), so a test proves "nothing else starts" by waiting for more rounds, not for time.
`until` waits for any state of it, and commits can be held open to show what runs meanwhile.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from service.clock import Clock
from service.contract import REJECTION_REASONS
from service.kafka.consume import ConsumerLoop
from service.observability.health import Health
from service.observability.metrics import Metrics

TP = TopicPartition("in", 0)


class FakeConsumer:
    """Hands out one record per size given (offsets from 0, in order) while not paused."""

    def __init__(self, sizes: list[int], *, hold_commits: bool = False) -> None:
        self._pending = [
            SimpleNamespace(offset=i, value=b"x" * size) for i, size in enumerate(sizes)
        ]
        self.paused = False
        self.resumes = 0
        self.rounds = 0
        self.commits: list[dict[TopicPartition, int]] = []
        self.committing = False
        self.fetches_during_commit = 0
        # cleared: a commit stays in the air until the test sets it
        self.commits_flow = asyncio.Event()
        if not hold_commits:
            self.commits_flow.set()
        self._watchers: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, _tp: TopicPartition) -> int | None:
        return None

    def pause(self, *_: Any) -> None:
        self.paused = True
        self._changed()

    def resume(self, *_: Any) -> None:
        self.paused = False
        self.resumes += 1
        self._changed()

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.rounds += 1
        if self.committing:
            self.fetches_during_commit += 1
        self._changed()
        if self._pending and not self.paused:
            batch, self._pending = self._pending[:max_records], self._pending[max_records:]
            return {TP: batch}
        await asyncio.sleep(0)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committing = True
        self._changed()
        try:
            await self.commits_flow.wait()
        finally:
            self.committing = False
        self.commits.append(dict(offsets))
        self._changed()

    async def until(self, predicate: Callable[[], bool]) -> None:
        if predicate():
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, woken)
        self._watchers.append(entry)
        try:
            await woken
        finally:
            self._watchers.remove(entry)

    async def more_rounds(self, count: int) -> None:
        """Return after `count` more fetch rounds of the loop."""
        target = self.rounds + count
        await self.until(lambda: self.rounds >= target)

    def _changed(self) -> None:
        for predicate, woken in self._watchers:
            if not woken.done() and predicate():
                woken.set_result(None)


class Gated:
    """A handler whose records finish only when released; records what runs and ends."""

    def __init__(self) -> None:
        self.running: set[int] = set()
        self.started: list[int] = []
        self.finished: list[int] = []
        self.cancelled: list[int] = []
        self.release: dict[int, asyncio.Event] = {}
        self.changed = asyncio.Condition()

    async def __call__(self, record: Any) -> None:
        event = self.release.setdefault(record.offset, asyncio.Event())
        async with self.changed:
            self.running.add(record.offset)
            self.started.append(record.offset)
            self.changed.notify_all()
        try:
            await event.wait()
        except asyncio.CancelledError:
            self.cancelled.append(record.offset)
            raise
        async with self.changed:
            self.running.discard(record.offset)
            self.finished.append(record.offset)
            self.changed.notify_all()

    def finish(self, *offsets: int) -> None:
        for offset in offsets:
            self.release.setdefault(offset, asyncio.Event()).set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with self.changed:
            await self.changed.wait_for(predicate)


def consumer_loop(
    consumer: Any,
    handle: Any,
    *,
    clock: Clock,
    registry: CollectorRegistry | None = None,
    **overrides: Any,
) -> ConsumerLoop:
    """Roomy limits unless a test sets its own; a seeded random source for the backoff."""
    options: dict[str, Any] = {
        "max_in_flight": 100,
        "max_in_flight_per_partition": 100,
        "fetch_max_records": 100,
        "revoke_deadline": 1,
        "rng": random.Random(0),
        **overrides,
    }
    return ConsumerLoop(
        consumer,
        handle,
        metrics=Metrics(registry or CollectorRegistry(), REJECTION_REASONS),
        health=Health(clock=clock, stall_seconds=60),
        clock=clock,
        **options,
    )
