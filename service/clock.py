"""Time behind a seam: steps ask a Clock, never `time.time()`, so tests never sleep.

Three clocks: `SystemClock` for the relay; `ManualClock` for steps that sleep and then go
on (a retry, a backoff), where sleeping can simply move time forward; `SteppedClock` for
loops that sleep between rounds (a periodic committer, a deadline raced against work), which
on a `ManualClock` would spin, each sleep returning at once. On a `SteppedClock` a sleeper
waits until the test moves time past its end, and the test can wait until something is
asleep, so "nothing else happens meanwhile" is proved by events, not by waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Collection
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (timestamps, schedules, TTLs)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (durations, leases, backoff)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told; `sleep` advances it instead of waiting."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)


class SteppedClock:
    """A clock for tests whose `sleep` returns only once `advance` has moved time past its
    end; `asleep` waits until a sleep of a given length has begun (see the module docstring)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        # (wake-up time, order of arrival, length asked, future): the heap wakes in time order
        self._sleepers: list[tuple[float, int, float, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        # `asleep` callers: the length they wait for (None: any) and how to wake them
        self._watchers: list[tuple[float | None, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleeping(self) -> list[float]:
        """The length asked by each sleep in progress, soonest to end first."""
        return [asked for _, _, asked, wake in sorted(self._sleepers) if not wake.done()]

    def advance(self, seconds: float) -> None:
        """Move time on and wake every sleep that has ended (they run at the next turn)."""
        self._now += seconds
        self._mono += seconds
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            wake = heapq.heappop(self._sleepers)[3]
            if not wake.done():
                wake.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._arrivals), seconds, wake))
        for wanted, watcher in self._watchers:
            if wanted in (None, seconds) and not watcher.done():
                watcher.set_result(None)
        try:
            await wake
        finally:
            if not wake.done():  # cancelled: no longer asleep
                wake.cancel()
                self._sleepers = [entry for entry in self._sleepers if entry[3] is not wake]
                heapq.heapify(self._sleepers)

    async def asleep(self, seconds: float | None = None) -> None:
        """Return once a sleep of `seconds` (of any length when None) is in progress."""
        if any(seconds in (None, asked) for asked in self.sleeping()):
            return
        watcher: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (seconds, watcher)
        self._watchers.append(entry)
        try:
            await watcher
        finally:
            self._watchers.remove(entry)


async def sleep_unless_set(clock: Clock, seconds: float, event: asyncio.Event) -> bool:
    """Sleep `seconds` on `clock` or until `event` is set, whichever comes first; True when
    the event is set. `asyncio.wait_for(event.wait(), ...)` would time out on the wall clock."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await wait_on_clock(clock, seconds, {waiter})
    finally:
        waiter.cancel()
    return event.is_set()


async def wait_on_clock(
    clock: Clock, seconds: float, tasks: Collection[asyncio.Future[Any]]
) -> set[asyncio.Future[Any]]:
    """Wait until every task is done or `seconds` have passed on `clock`; return the tasks
    still running (neither cancelled nor awaited: that is the caller's decision)."""
    pending: set[asyncio.Future[Any]] = {task for task in tasks if not task.done()}
    if not pending:
        return pending
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        while pending and not timer.done():
            _done, pending = await asyncio.wait(
                {*pending, timer}, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(timer)
    finally:
        timer.cancel()
    return pending
