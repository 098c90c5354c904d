"""A gate in front of every send: closed while Push.R cannot take requests at all.

One gate per account: insufficient balance, rejected credentials, an exceeded budget or
the blast-radius guard stop *all* of that account's sending, not one batch, and no other
account's. While the gate is closed exactly one caller at a time probes (after
`recheck_seconds`); everyone else waits. A successful probe opens the gate. This turns
"retry storm" into one request per interval and never drops the waiting work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from service.clock import Clock
from service.pipeline.parking import waiting_aside


class SendGate:
    def __init__(
        self,
        clock: Clock,
        recheck_seconds: float,
        on_change: Callable[[str, bool], None] | None = None,
        *,
        may_park: bool = False,
    ) -> None:
        self._clock = clock
        self._recheck = recheck_seconds
        self._on_change = on_change
        self._reasons: set[str] = set()
        # replaced on every change, so waiters wake when the gate opens or the probe frees
        self._changed = asyncio.Event()
        self._probe_taken = False
        # several accounts: a waiting record is set aside so others' records flow past it
        self._may_park = may_park

    @property
    def closed_reasons(self) -> frozenset[str]:
        return frozenset(self._reasons)

    def close(self, reason: str) -> None:
        if reason not in self._reasons:
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

    async def pass_through(self) -> bool:
        """Wait for a turn to send. True means this caller is the probe and must `report`."""
        if not self._reasons:
            return False
        with waiting_aside(self._may_park):
            return await self._wait_for_turn()

    async def _wait_for_turn(self) -> bool:
        while self._reasons:
            if not self._probe_taken:
                self._probe_taken = True
                try:
                    await self._clock.sleep(self._recheck)
                except BaseException:
                    self._probe_taken = False
                    self._notify()
                    raise
                if self._reasons:
                    return True
                self._probe_taken = False
                self._notify()
                return False
            await self._changed.wait()
        return False

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def report(self, probe: bool, *, close: str | None = None, answered: bool = False) -> None:
        """After a send: `close` names a reason Push.R just gave; `answered` means Push.R
        gave a definite answer (so the probe proves the gate may open)."""
        if close is not None:
            self.close(close)
        elif probe and answered:
            self.open_all()
        if probe:
            self._probe_taken = False
            self._notify()
