"""Client-side rate limit in front of every Push.R request.

A `RateBudget` hands out send slots: `acquire()` reserves the next slot and answers how
many seconds until it is ours. Two implementations:
- `TokenBucket`: this process only (GCRA, i.e. a token bucket kept as one timestamp).
- the Redis limiter in `service.ledger.redis_rate` (same `acquire() -> float`): one budget
  shared by every replica. The composition root passes it in as `shared`.

`RateLimiter` queues its callers and gives each slot, when it is due, to the next waiter in
lane order (`service.priority`): a `critical` request arriving behind a queue of bulk ones
takes the very next slot. Slots are reserved by one dispatcher, one at a time, never by a
waiter for itself, so who goes is decided when a slot is due, not when it was asked for.
With the Redis budget each replica thus keeps one reservation in flight: the budget stays
one per account, and a `critical` request waits for at most about one slot per replica.

`RateLimiter` also holds everyone for a `Retry-After` the client reports: when Push.R tells
one caller to come back in N seconds, every caller waits, instead of each one learning it
from its own 429.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from service.clock import Clock, wait_on_clock
from service.priority import DEFAULT_PRIORITY, LaneOrder, LaneQueue, Priority
from service.settings import Settings


class RateBudget(Protocol):
    async def acquire(self) -> float:
        """Reserve the next slot; seconds to wait before using it (0 = now)."""
        ...


class TokenBucket:
    """`rate` slots per second, up to `burst` at once, in order of arrival."""

    def __init__(self, rate: float, clock: Clock, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._tat = clock.monotonic()  # theoretical arrival time of the next slot

    async def acquire(self) -> float:
        now = self._clock.monotonic()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        return max(0.0, tat - self._tolerance - now)


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        budget: RateBudget | None = None,
        on_wait: Callable[[float], None] | None = None,
        order: LaneOrder | None = None,
    ) -> None:
        self._clock = clock
        self._budget = budget
        self._on_wait = on_wait
        self._hold_until = 0.0
        self._waiters: LaneQueue[asyncio.Future[None]] = LaneQueue(order)
        self._due: list[float] = []  # monotonic times of slots reserved, not yet handed out
        self._dispatcher: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clock: Clock,
        *,
        shared: RateBudget | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> RateLimiter:
        """`shared` (the Redis budget) replaces the local bucket; rate 0 means no limit."""
        budget: RateBudget | None = None
        if settings.rate_limit_rps > 0:
            budget = shared or TokenBucket(settings.rate_limit_rps, clock)
        order = LaneOrder(settings.lane_weight_normal, settings.lane_weight_bulk)
        return cls(clock, budget, on_wait, order)

    def hold(self, seconds: float) -> None:
        """Let nothing through for `seconds` (a provider's Retry-After)."""
        self._hold_until = max(self._hold_until, self._clock.monotonic() + seconds)

    def held_for(self) -> float:
        return max(0.0, self._hold_until - self._clock.monotonic())

    def waiting(self, lane: Priority) -> int:
        return self._waiters.length(lane)

    async def wait(self, max_wait: float | None = None, lane: Priority = DEFAULT_PRIORITY) -> bool:
        """Wait for a turn, in lane order. False when the wait would exceed `max_wait`:
        at once when the hold or this caller's own reservation is further away (that slot
        is then given up, which only slows us), else once `max_wait` has passed in line."""
        started = self._clock.monotonic()
        try:
            held = self.held_for()
            if max_wait is not None and held > max_wait:
                return False
            alone = not self._waiters and self._dispatcher is None and not self._due
            if alone and held <= 0:
                if self._budget is None:
                    return True
                delay = await self._budget.acquire()
                if delay <= 0:
                    return True
                if max_wait is not None and delay > max_wait:
                    return False
                self._due.append(self._clock.monotonic() + delay)
            return await self._in_line(lane, started, max_wait)
        finally:
            waited = self._clock.monotonic() - started
            if waited > 0 and self._on_wait is not None:
                self._on_wait(waited)

    async def _in_line(self, lane: Priority, started: float, max_wait: float | None) -> bool:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.push(lane, turn)
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch())
        try:
            if max_wait is None:
                await turn
                return True
            left = max_wait - (self._clock.monotonic() - started)
            return not await wait_on_clock(self._clock, left, {turn})
        finally:
            if not turn.done():
                turn.cancel()
                self._waiters.remove(lane, turn)
                if not self._waiters and self._dispatcher is not None:
                    # nobody left to hand a slot to: stop reserving (a reserved slot that
                    # goes unused only slows us)
                    self._dispatcher.cancel()
                    self._dispatcher = None

    async def _dispatch(self) -> None:
        """While anyone waits: wait out holds, reserve the next slot, and when it is due
        hand it to the next waiter in lane order."""
        try:
            while self._waiters:
                held = self.held_for()
                if held > 0:
                    await self._clock.sleep(held)
                    continue
                if self._budget is None:
                    self._hand_over_all()
                    continue
                if not self._due:
                    try:
                        delay = await self._budget.acquire()
                    except Exception as exc:  # the shared budget failed: the next caller hears
                        self._fail_next(exc)
                        continue
                    self._due.append(self._clock.monotonic() + delay)
                wait = self._due[0] - self._clock.monotonic()
                if wait > 0:
                    await self._clock.sleep(wait)
                    continue  # a hold may have come meanwhile; the slot stays reserved
                if self._hand_over_next():
                    self._due.pop(0)
        finally:
            if self._dispatcher is asyncio.current_task():
                self._dispatcher = None

    def _hand_over_next(self) -> bool:
        while (entry := self._waiters.pop()) is not None:
            if not entry[1].done():
                entry[1].set_result(None)
                return True
        return False

    def _hand_over_all(self) -> None:
        for _lane, turn in self._waiters.drain():
            if not turn.done():
                turn.set_result(None)

    def _fail_next(self, exc: Exception) -> None:
        while (entry := self._waiters.pop()) is not None:
            if not entry[1].done():
                entry[1].set_exception(exc)
                return
