"""A gate in front of every send: closed while Push.R cannot take requests at all.

Insufficient balance, rejected credentials and an unreachable ledger stop *all* sending,
not one batch. While the gate is closed exactly one caller at a time probes (one per
`recheck_seconds`); everyone else waits. A successful probe opens the gate. This turns
"retry storm" into one request per interval and never drops the waiting work.

A breaker that opened on one endpoint `hold`s that endpoint's batches here until its open
time is over, instead of each sleeping on its own.

Waiters are released together when the gate opens (or a hold ends, or the probe's turn is
free again), in lane order (`service.priority`): `critical` first, then `normal` and `bulk`
by weight, so after a pause a one-time password is the first to go (and the next probe).
A waiter whose batch expires stops waiting at its expiry, so an expired batch is reported
then and never sent when the gate opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from service.clock import Clock, wait_on_clock
from service.priority import LaneOrder, LaneQueue, Priority


class SendGate:
    def __init__(
        self,
        clock: Clock,
        recheck_seconds: float,
        on_change: Callable[[str, bool], None] | None = None,
        order: LaneOrder | None = None,
    ) -> None:
        self._clock = clock
        self._recheck = recheck_seconds
        self._on_change = on_change
        self._reasons: set[str] = set()
        self._waiters: LaneQueue[asyncio.Future[None]] = LaneQueue(order)
        self._probe_taken = False
        self._probe_at = 0.0  # monotonic time at which the next probe may go
        self._held: dict[str, float] = {}  # key -> monotonic end of its hold
        self._timers: set[str] = set()  # keys whose hold a caller is sleeping out

    @property
    def closed_reasons(self) -> frozenset[str]:
        return frozenset(self._reasons)

    def waiting(self, lane: Priority) -> int:
        return self._waiters.length(lane)

    def close(self, reason: str) -> None:
        if reason not in self._reasons:
            if not self._reasons:
                self._probe_at = self._clock.monotonic() + self._recheck
            self._reasons.add(reason)
            if self._on_change:
                self._on_change(reason, True)

    def open(self, reason: str) -> None:
        if reason in self._reasons:
            self._reasons.discard(reason)
            if self._on_change:
                self._on_change(reason, False)
            if not self._reasons:
                self._notify()

    def open_all(self) -> None:
        for reason in list(self._reasons):
            self.open(reason)

    def hold(self, key: str, seconds: float) -> None:
        """Let no caller passing `key` (an endpoint whose breaker is open) through for
        `seconds`; they then go together, in lane order."""
        if seconds > 0:
            until = self._clock.monotonic() + seconds
            self._held[key] = max(self._held.get(key, 0.0), until)

    async def pass_through(
        self, lane: Priority = "normal", key: str = "", expires_at: float | None = None
    ) -> bool:
        """Wait for a turn to send. True means this caller is the probe and must `report`.

        `key` names what the caller sends to (its endpoint, for holds). Once `expires_at`
        (epoch seconds) has passed the wait ends with False: the caller finds its batch
        expired and sends nothing.
        """
        while True:
            if expires_at is not None and self._clock.now() >= expires_at:
                return False
            held = self._held_for(key)
            if held > 0:
                if key not in self._timers:
                    await self._sleep_out_hold(key, held)
                    continue
            elif not self._reasons:
                return False
            elif not self._probe_taken:
                probe = await self._probe_turn(expires_at)
                if probe is not None:
                    return probe
                continue
            await self._wait(lane, expires_at)

    def report(
        self,
        probe: bool,
        *,
        close: str | None = None,
        answered: bool = False,
        attempted: bool = True,
    ) -> None:
        """After a send: `close` names a reason Push.R just gave; `answered` means Push.R
        gave a definite answer (so the probe proves the gate may open); `attempted` False
        means nothing was sent (an expired batch), so the next probe need not wait."""
        if close is not None:
            self.close(close)
        elif probe and answered:
            self.open_all()
        if probe:
            if attempted:
                self._probe_at = self._clock.monotonic() + self._recheck
            self._probe_taken = False
            self._notify()

    # --- the waiting ---------------------------------------------------------------------
    async def _probe_turn(self, expires_at: float | None) -> bool | None:
        """Be the probe: wait for its time, then True if the gate is still closed. None
        when it opened meanwhile, or the caller's batch expired first (it looks again)."""
        self._probe_taken = True
        wait = self._probe_at - self._clock.monotonic()
        expiry = None if expires_at is None else expires_at - self._clock.now()
        for_expiry = expiry is not None and expiry < wait
        try:
            if for_expiry or wait > 0:
                await self._clock.sleep(expiry if expiry is not None and for_expiry else wait)
        except BaseException:
            self._probe_taken = False
            self._notify()
            raise
        if self._reasons and not for_expiry:
            return True
        self._probe_taken = False
        self._notify()
        return None

    async def _sleep_out_hold(self, key: str, seconds: float) -> None:
        self._timers.add(key)
        try:
            await self._clock.sleep(seconds)
        finally:
            self._timers.discard(key)
            self._notify()

    async def _wait(self, lane: Priority, expires_at: float | None) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.push(lane, turn)
        try:
            if expires_at is None:
                await turn
            else:
                await wait_on_clock(self._clock, expires_at - self._clock.now(), {turn})
        finally:
            if not turn.done():
                turn.cancel()
                self._waiters.remove(lane, turn)

    def _held_for(self, key: str) -> float:
        until = self._held.get(key)
        if until is None:
            return 0.0
        left = until - self._clock.monotonic()
        if left <= 0:
            del self._held[key]
            return 0.0
        return left

    def _notify(self) -> None:
        """Wake every waiter, in lane order; each looks at the gate again."""
        for _lane, turn in self._waiters.drain():
            if not turn.done():
                turn.set_result(None)
