"""Which fetched records start, by lane, and which partitions must stop fetching.

Each lane (`critical`, `normal`, `bulk`) has its own budget of records in progress: at most
`max_in_flight` records and `max_bytes` payload bytes (a record larger than the budget still
runs, alone). A lane's backlog therefore never stops another lane's records from starting.
Fetched records that cannot start yet wait here, undecoded, first come first served within
their lane; when records can start, `critical` ones start first.

What a partition can promise depends on how lanes reach the relay:

- **A lane topic** (`in_topic_critical`, `in_topic_bulk`) carries one lane: its partitions
  pause as soon as their lane's budget is full, and only then. A bulk backlog pauses the
  bulk topic; the critical topic keeps being fetched and started.
- **A shared topic** (the in-topic: lanes by the `priority` field) is one ordered log per
  partition, so nothing behind a paused partition can be fetched, whatever its lane. Its
  partitions therefore keep being fetched past a full budget while the records waiting
  from shared topics stay under `fetch_ahead_bytes` (and under `max_in_flight` records): a
  `critical` record within that much of the head of its partition is fetched and started
  at once. One further behind waits until the backlog ahead of it has started. For a hard
  guarantee, give critical events their own topic (or enough partitions).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from aiokafka import TopicPartition

from service.priority import PRIORITIES, Priority

LaneOf = Callable[[str, bytes | None], Priority]  # (topic, payload) -> lane, before decoding


class Waiting(NamedTuple):
    tp: TopicPartition
    record: Any
    size: int
    lane: Priority
    shared: bool  # from a shared topic (counts against the fetch-ahead room)


class LaneIntake:
    def __init__(
        self,
        *,
        max_in_flight: int,
        max_bytes: int | None,
        fetch_ahead_bytes: int,
        lane_topics: Mapping[str, Priority],
        lane_of: LaneOf,
    ) -> None:
        self._max_count = max_in_flight
        self._max_bytes = max_bytes
        self._ahead_bytes = fetch_ahead_bytes
        self._lane_topics = dict(lane_topics)
        self._lane_of = lane_of
        self.running: dict[Priority, int] = dict.fromkeys(PRIORITIES, 0)
        self.running_bytes: dict[Priority, int] = dict.fromkeys(PRIORITIES, 0)
        self._waiting: dict[Priority, deque[Waiting]] = {lane: deque() for lane in PRIORITIES}
        self._shared_waiting = 0
        self._shared_waiting_bytes = 0

    def add(self, tp: TopicPartition, record: Any) -> None:
        """A fetched record: it waits here until `startable` hands it out."""
        value = getattr(record, "value", None)
        shared = tp.topic not in self._lane_topics
        lane = self._lane_of(tp.topic, value)
        self._waiting[lane].append(Waiting(tp, record, len(value) if value else 0, lane, shared))
        if shared:
            self._shared_waiting += 1
            self._shared_waiting_bytes += self._waiting[lane][-1].size

    def startable(self) -> Iterator[Waiting]:
        """Records that may start now, `critical` first; each is counted as running."""
        for lane in PRIORITIES:
            queue = self._waiting[lane]
            while queue and self._fits(lane, queue[0].size):
                item = queue.popleft()
                if item.shared:
                    self._shared_waiting -= 1
                    self._shared_waiting_bytes -= item.size
                self.running[lane] += 1
                self.running_bytes[lane] += item.size
                yield item

    def finished(self, lane: Priority, size: int) -> None:
        self.running[lane] -= 1
        self.running_bytes[lane] -= size

    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    def blocked(self, topic: str) -> bool:
        """Whether `topic`'s partitions must stop fetching (see the module docstring)."""
        lane = self._lane_topics.get(topic)
        if lane is not None:
            return bool(self._waiting[lane])
        return self._shared_waiting > 0 and (
            self._shared_waiting_bytes >= self._ahead_bytes
            or self._shared_waiting >= self._max_count
        )

    def drop(self, tps: set[TopicPartition]) -> None:
        """Forget waiting records of revoked partitions: the new owner fetches them again."""
        for lane, queue in self._waiting.items():
            kept = deque(item for item in queue if item.tp not in tps)
            for item in queue:
                if item.tp in tps and item.shared:
                    self._shared_waiting -= 1
                    self._shared_waiting_bytes -= item.size
            self._waiting[lane] = kept

    def _fits(self, lane: Priority, size: int) -> bool:
        if self.running[lane] >= self._max_count:
            return False
        used = self.running_bytes[lane]
        return self._max_bytes is None or used == 0 or used + size <= self._max_bytes
