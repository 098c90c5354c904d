"""Waiting aside: a record whose account is held stops counting against its partition.

The consumer loop gives each record's task a `ParkingSpot` (a context variable, so every
batch of the record sees it). When a batch starts waiting at its account's closed gate
(no balance, keys refused, budget or blast radius), the record is parked: it no longer
counts towards the in-flight limits of its partition or of the process, so records of
other accounts behind it are fetched and sent. A parked record stays uncommitted (commits
never pass it) and resumes in place when its account can send again. Parking is bounded
(`PUSHR_RELAY_MAX_PARKED_EVENTS`); past the bound a waiting record simply counts as in
flight, as with one account.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol


class ParkingSpot(Protocol):
    def park(self) -> bool:
        """Set the record aside; False when there is no room (it keeps counting)."""
        ...

    def unpark(self) -> None: ...


current_spot: ContextVar[ParkingSpot | None] = ContextVar("parking_spot", default=None)


@contextlib.contextmanager
def waiting_aside(enabled: bool) -> Iterator[None]:
    spot = current_spot.get() if enabled else None
    parked = spot.park() if spot is not None else False
    try:
        yield
    finally:
        if parked and spot is not None:
            spot.unpark()
