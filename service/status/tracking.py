"""Feeding the poller: every sent message is tracked before its result reaches Kafka.

`TrackingPublisher` sees every result event as the handler publishes it; one with a
`pushr_message_id` and outcome `sent`/`scheduled` is recorded in the `TrackStore` *before*
it is handed to Kafka, so it is tracked before its offset can be committed. A crash in
between redelivers the record, and the replayed result (same message id) is recorded then:
adding is idempotent. Tracking is best effort: a store failure is logged and counted, never
allowed to fail the record (the SMS left already).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from service.clock import Clock
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.pipeline.publish import Publisher
from service.status.tracked import TrackedMessage, TrackStore

log = get_logger(__name__)


class StatusTracker:
    def __init__(self, store: TrackStore, clock: Clock, metrics: Metrics) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics

    async def track_result(self, result: dict[str, Any]) -> None:
        message = TrackedMessage.from_result(result, self._clock.now())
        if message is None:
            return
        try:
            await self._store.add(message)
        except Exception as exc:
            self._metrics.status_track_errors.inc()
            log.warning(
                "status_track_failed", pushr_message_id=message.message_id, error=type(exc).__name__
            )


class ResultTracker(Protocol):
    async def track_result(self, result: dict[str, Any]) -> None: ...


class TrackingPublisher(Publisher):
    """The handler's publisher, recording sent messages for the status poller."""

    def __init__(
        self, producer: AIOKafkaProducer, out_topic: str, dlq_topic: str, tracker: ResultTracker
    ) -> None:
        super().__init__(producer, out_topic, dlq_topic)
        self._tracker = tracker

    async def event(self, key: str, value: dict[str, Any]) -> asyncio.Future[Any]:
        await self._tracker.track_result(value)
        return await super().event(key, value)
