"""Which offsets are safe to commit while work inside a partition finishes out of order.

Records enter in offset order per partition; each is marked done when everything it
produced was acknowledged. The committable position of a partition is the first offset
still in progress (or one past the last done), so a commit never passes unfinished work.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass(slots=True)
class _PartitionOffsets:
    # offset -> done?; insertion order is offset order (records arrive in order)
    pending: OrderedDict[int, bool] = field(default_factory=OrderedDict)
    next_commit: int | None = None  # offset to commit (Kafka commits "next to read")
    committed: int | None = None
    unfinished: int = 0  # not done and not parked: what counts as in flight
    parked: set[int] = field(default_factory=set)  # not done, waiting aside (uncommitted)


class OffsetTracker:
    def __init__(self) -> None:
        self._parts: dict[TopicPartition, _PartitionOffsets] = {}

    def add(self, tp: TopicPartition, offset: int) -> None:
        part = self._parts.setdefault(tp, _PartitionOffsets())
        if offset not in part.pending:
            part.pending[offset] = False
            part.unfinished += 1

    def done(self, tp: TopicPartition, offset: int) -> None:
        part = self._parts.get(tp)
        if part is None or part.pending.get(offset, True):
            return  # revoked meanwhile (its work no longer counts here) or already done
        part.pending[offset] = True
        if offset in part.parked:
            part.parked.discard(offset)
        else:
            part.unfinished -= 1
        while part.pending:
            first, finished = next(iter(part.pending.items()))
            if not finished:
                break
            part.pending.popitem(last=False)
            part.next_commit = first + 1

    def park(self, tp: TopicPartition, offset: int) -> None:
        """Stop counting an unfinished record as in flight; commits still stop before it."""
        part = self._parts.get(tp)
        if part is not None and part.pending.get(offset) is False and offset not in part.parked:
            part.parked.add(offset)
            part.unfinished -= 1

    def unpark(self, tp: TopicPartition, offset: int) -> None:
        part = self._parts.get(tp)
        if part is not None and offset in part.parked:
            part.parked.discard(offset)
            part.unfinished += 1

    def in_flight(self, tp: TopicPartition) -> int:
        part = self._parts.get(tp)
        return 0 if part is None else part.unfinished

    def total_in_flight(self) -> int:
        return sum(self.in_flight(tp) for tp in self._parts)

    def to_commit(self) -> dict[TopicPartition, int]:
        """Positions that advanced since the last `mark_committed`."""
        return {
            tp: part.next_commit
            for tp, part in self._parts.items()
            if part.next_commit is not None and part.next_commit != part.committed
        }

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed = offset

    def forget(self, tps: set[TopicPartition]) -> None:
        """Drop revoked partitions: their unfinished work will be redelivered to the new owner."""
        for tp in tps:
            self._parts.pop(tp, None)

    def partitions(self) -> list[TopicPartition]:
        return list(self._parts)
