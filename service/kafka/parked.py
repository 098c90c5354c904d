"""The consumer loop's side of `service.pipeline.parking`: one spot per record task, and
the bound on how many records wait aside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Gauge

from service.kafka.offsets import OffsetTracker
from service.priority import Priority

# (lane, payload bytes, set aside?): the loop frees the record's lane slot, or takes it back
Moved = Callable[[Priority, int, bool], None]


class Parking:
    def __init__(self, tracker: OffsetTracker, limit: int, gauge: Gauge, on_move: Moved) -> None:
        self._tracker = tracker
        self._limit = limit
        self._gauge = gauge
        self._on_move = on_move
        self.count = 0

    def set_aside(self, tp: TopicPartition, record: Any, lane: Priority, size: int) -> bool:
        if self.count >= self._limit:
            return False
        self.count += 1
        self._gauge.set(self.count)
        self._tracker.park(tp, record.offset)
        self._on_move(lane, size, True)
        return True

    def take_back(self, tp: TopicPartition, record: Any, lane: Priority, size: int) -> None:
        self.count -= 1
        self._gauge.set(self.count)
        self._tracker.unpark(tp, record.offset)
        self._on_move(lane, size, False)


class RecordSpot:
    """Parks one record while any of its batches waits at a held account's gate (it frees
    its in-flight slot and bytes, within the bound), and counts it again after."""

    def __init__(
        self, parking: Parking, tp: TopicPartition, record: Any, lane: Priority, size: int
    ) -> None:
        self._parking = parking
        self._where = (tp, record, lane, size)
        self._waiters = 0

    def park(self) -> bool:
        if self._waiters == 0 and not self._parking.set_aside(*self._where):
            return False
        self._waiters += 1
        return True

    def unpark(self) -> None:
        self._waiters -= 1
        if self._waiters == 0:
            self._parking.take_back(*self._where)

    def leave(self) -> None:
        """The task ends while parked (cancelled on revoke or shutdown): count it again so
        the loop's books balance."""
        if self._waiters > 0:
            self._waiters = 0
            self._parking.take_back(*self._where)
