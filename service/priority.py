"""The one priority order: which lane's waiter goes next, wherever work waits.

Three lanes: `critical` (one-time passwords, security alerts), `normal` (the default) and
`bulk` (campaigns). Every queue of the relay that hands out a turn (send slots, rate-limit
tokens, the send gate's release, records waiting to start) asks a `LaneOrder`:

- `critical` goes whenever it has a waiter: strictly first;
- otherwise `normal` and `bulk` share the turns by weight, interleaved (smooth weighted
  round robin, the unit-cost case of deficit round robin): with weights 3 and 1 and both
  lanes waiting, every run of 4 turns gives `normal` 3 and `bulk` 1, so `bulk` never
  starves behind `normal`. A lane's credit is reset when it has no waiter, so an idle lane
  does not save up turns for later.

Each queue keeps its own `LaneOrder` (its own credits); the weights come from the settings.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Final, Generic, Literal, TypeVar, get_args

Priority = Literal["critical", "normal", "bulk"]
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)
DEFAULT_PRIORITY: Final[Priority] = "normal"
SHARED_LANES: Final[tuple[Priority, ...]] = ("normal", "bulk")  # share turns by weight

T = TypeVar("T")


class LaneOrder:
    """Picks the next lane among those with a waiter (see the module docstring)."""

    def __init__(self, normal_weight: int = 3, bulk_weight: int = 1) -> None:
        if normal_weight < 1 or bulk_weight < 1:
            raise ValueError("lane weights must be at least 1")
        self._weights: dict[Priority, int] = {"normal": normal_weight, "bulk": bulk_weight}
        self._credit: dict[Priority, int] = dict.fromkeys(SHARED_LANES, 0)

    def pick(self, waiting: frozenset[Priority] | set[Priority]) -> Priority | None:
        """The lane whose waiter goes next; None when no lane has one."""
        if "critical" in waiting:
            return "critical"
        ready = [lane for lane in SHARED_LANES if lane in waiting]
        for lane in SHARED_LANES:
            if lane not in waiting:
                self._credit[lane] = 0
        if len(ready) < 2:
            return ready[0] if ready else None
        for lane in ready:
            self._credit[lane] += self._weights[lane]
        chosen = max(ready, key=lambda lane: self._credit[lane])  # ties: normal first
        self._credit[chosen] -= sum(self._weights[lane] for lane in ready)
        return chosen


class LaneQueue(Generic[T]):
    """First come, first served within a lane; across lanes as a `LaneOrder` says."""

    def __init__(self, order: LaneOrder | None = None) -> None:
        self._order = order or LaneOrder()
        self._lanes: dict[Priority, deque[T]] = {lane: deque() for lane in PRIORITIES}
        self._size = 0  # every queue asks `not queue` on its fast path

    def push(self, lane: Priority, item: T) -> None:
        self._lanes[lane].append(item)
        self._size += 1

    def pop(self) -> tuple[Priority, T] | None:
        """The next item in priority order, or None when empty."""
        if not self._size:
            return None
        lane = self._order.pick({name for name, items in self._lanes.items() if items})
        if lane is None:
            return None
        self._size -= 1
        return lane, self._lanes[lane].popleft()

    def drain(self) -> Iterator[tuple[Priority, T]]:
        """Every item, in priority order, emptying the queue."""
        while (entry := self.pop()) is not None:
            yield entry

    def remove(self, lane: Priority, item: T) -> bool:
        try:
            self._lanes[lane].remove(item)
        except ValueError:
            return False
        self._size -= 1
        return True

    def length(self, lane: Priority) -> int:
        return len(self._lanes[lane])

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0
