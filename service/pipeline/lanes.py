"""Send slots by lane: one scheduler for the connections to Push.R.

`SendSlots` hands out `capacity` slots (one per connection). The deliverer takes one right
before a batch's ledger claim and gives it back as soon as the request is answered, so a
batch waiting for a slot holds no slot and no claim, and no batch holds a slot across a gate
wait, a busy peer's lease, a backoff or a Retry-After (its retries are separate turns, each
one client call). When slots are short, a freed slot goes straight to the next waiter in
lane order (`service.priority`: `critical` first, then `normal` and `bulk` by weight),
never to whoever happens to ask next, so a one-time password never queues behind a
campaign.

`Urgency` is where a batch stands in line (its lane and expiry); `LaneWaits` reports a
batch's waits to the metrics through `LaneHooks`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from service.clock import Clock
from service.priority import DEFAULT_PRIORITY, LaneOrder, LaneQueue, Priority


class SendSlots:
    def __init__(self, capacity: int, order: LaneOrder | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._free = capacity
        self._waiters: LaneQueue[asyncio.Future[None]] = LaneQueue(order)

    def waiting(self, lane: Priority) -> int:
        return self._waiters.length(lane)

    @property
    def free(self) -> int:
        return self._free

    async def acquire(self, lane: Priority) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.push(lane, turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                self._waiters.remove(lane, turn)
            raise

    def release(self) -> None:
        """Give a slot back: to the next waiter in lane order, else to the pool."""
        while (entry := self._waiters.pop()) is not None:
            turn = entry[1]
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1

    @contextlib.asynccontextmanager
    async def slot(self, lane: Priority) -> AsyncIterator[None]:
        await self.acquire(lane)
        try:
            yield
        finally:
            self.release()


@dataclass(frozen=True, slots=True)
class LaneHooks:
    """Callbacks for the metrics module, by lane."""

    # a batch starts (+1) or stops (-1) waiting for its turn to send
    on_waiting: Callable[[Priority, int], None] | None = None
    # seconds from a batch being queued to its first request going out
    on_first_request: Callable[[Priority, float], None] | None = None
    # a batch not sent because its expiry passed while it waited
    on_expired: Callable[[Priority], None] | None = None


@dataclass(frozen=True, slots=True)
class Urgency:
    """Where a batch stands in line: its lane, and when it must no longer be sent."""

    lane: Priority = DEFAULT_PRIORITY
    expires_at: float | None = None  # epoch seconds

    def passed(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class LaneWaits:
    """One batch's waits for its turn: counted as waiting from the start of each turn
    until its request goes out (or the turn ends without one); the time from being
    queued to its first request is reported once."""

    def __init__(self, lane: Priority, hooks: LaneHooks, clock: Clock) -> None:
        self._lane = lane
        self._hooks = hooks
        self._clock = clock
        self._queued_at = clock.monotonic()
        self._waiting = False
        self._requested = False

    def begin(self) -> None:
        """A turn starts: the batch waits (the gate, a send slot, the rate limit)."""
        self._set_waiting(True)

    def end(self) -> None:
        """The turn ended (with a request or without one)."""
        self._set_waiting(False)

    def requested(self) -> None:
        """The batch's request is about to go out."""
        self._set_waiting(False)
        if not self._requested:
            self._requested = True
            if self._hooks.on_first_request:
                waited = self._clock.monotonic() - self._queued_at
                self._hooks.on_first_request(self._lane, waited)

    def _set_waiting(self, waiting: bool) -> None:
        if waiting != self._waiting:
            self._waiting = waiting
            if self._hooks.on_waiting:
                self._hooks.on_waiting(self._lane, 1 if waiting else -1)
