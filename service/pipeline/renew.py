"""One task renews every claim whose request is in the air, while there are any.

A slow request (a long read timeout) must not let its claim's lease lapse, or a live owner
would look dead and its batch ambiguous. A task per send would add a task and a timer to
every request, however short; one renewer ticks every lease/3 while anything is in the air
and stops when nothing is (a manual clock would otherwise run on by itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from service.clock import Clock
from service.ledger.base import Ledger, LedgerError
from service.observability.logging import get_logger

log = get_logger(__name__)


class LeaseRenewer:
    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        lease_seconds: float,
        on_ledger_error: Callable[[], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._lease = lease_seconds
        self._on_ledger_error = on_ledger_error
        self._in_air: dict[int, tuple[str, str]] = {}  # attempt id -> (batch key, owner)
        self.task: asyncio.Task[None] | None = None

    def hold(self, attempt: int, key: str, owner: str) -> None:
        """Keep `owner`'s claim of `key` renewed until `drop(attempt)` (its request ends)."""
        self._in_air[attempt] = (key, owner)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._renew())

    def drop(self, attempt: int) -> None:
        del self._in_air[attempt]
        if not self._in_air and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _renew(self) -> None:
        """Every lease/3, renew every claim in the air: each is renewed within lease/3 of
        its send starting, and again every lease/3 until it ends."""
        while True:
            await self._clock.sleep(self._lease / 3)
            claims = list(self._in_air.values())
            answers = await asyncio.gather(
                *(self._ledger.renew(key, owner, self._lease) for key, owner in claims),
                return_exceptions=True,
            )
            for answer in answers:
                if isinstance(answer, LedgerError):
                    if self._on_ledger_error:
                        self._on_ledger_error()
                elif isinstance(answer, asyncio.CancelledError):
                    raise answer
                elif isinstance(answer, BaseException):
                    log.error("lease_renew_failed", error=type(answer).__name__)
