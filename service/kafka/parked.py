"""The consumer loop's side of `service.pipeline.parking`: one spot per record task, and
the bound on how many records wait aside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Gauge

from service.kafka.offsets import OffsetTracker


class Parking:
    def __init__(
        self,
        tracker: OffsetTracker,
        limit: int,
        gauge: Gauge,
        on_bytes: Callable[[int], None],
    ) -> None:
        self._tracker = tracker
        self._limit = limit
        self._gauge = gauge
        self._on_bytes = on_bytes
        self.count = 0

    def set_aside(self, tp: TopicPartition, record: Any) -> bool:
        if self.count >= self._limit:
            return False
        self.count += 1
        self._gauge.set(self.count)
        self._tracker.park(tp, record.offset)
        self._on_bytes(-record_size(record))
        return True

    def take_back(self, tp: TopicPartition, record: Any) -> None:
        self.count -= 1
        self._gauge.set(self.count)
        self._tracker.unpark(tp, record.offset)
        self._on_bytes(record_size(record))


class RecordSpot:
    """Parks one record while any of its batches waits at a held account's gate (it frees
    its in-flight slot and bytes, within the bound), and counts it again after."""

    def __init__(self, parking: Parking, tp: TopicPartition, record: Any) -> None:
        self._parking = parking
        self._tp = tp
        self._record = record
        self._waiters = 0

    def park(self) -> bool:
        if self._waiters == 0 and not self._parking.set_aside(self._tp, self._record):
            return False
        self._waiters += 1
        return True

    def unpark(self) -> None:
        self._waiters -= 1
        if self._waiters == 0:
            self._parking.take_back(self._tp, self._record)

    def leave(self) -> None:
        """The task ends while parked (cancelled on revoke or shutdown): count it again so
        the loop's books balance."""
        if self._waiters > 0:
            self._waiters = 0
            self._parking.take_back(self._tp, self._record)


def record_size(record: Any) -> int:
    value = getattr(record, "value", None)
    return len(value) if value else 0
