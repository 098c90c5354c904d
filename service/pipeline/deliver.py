"""Send one batch at most once (or at least once), with the ledger as the memory.

    gate ─► claim ─┬─ DONE ─────────────► re-publish the stored result (no send)
                   ├─ BUSY ─────────────► wait, ask again
                   ├─ TAKEN_OVER ───────► ambiguous: at_most_once → unknown; at_least_once → send
                   └─ CLAIMED ──► send ─┬─ accepted / rejected ─► complete, publish
                                        ├─ ambiguous ─► per delivery mode (as TAKEN_OVER)
                                        └─ not sent (retry-safe, breaker, balance, 401)
                                           ─► release the claim, back off, start again

A claim is held only while a request may be in the air, so a long pause (no balance,
breaker open) never lets a lease lapse into a false "ambiguous".

With a `Handoff` (reconciliation on), both ambiguous branches hand a plain batch to the
reconciler instead, in both delivery modes: `unknown` now, and the verdict later decides
(`service.pipeline.handoff`). A taken-over claim is never resent before that verdict.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from service.backoff import Backoff
from service.clock import Clock
from service.contract.events import ResultOutcome
from service.ledger.base import BatchState, Claim, ClaimStatus, Ledger, LedgerError
from service.ledger.pending import Signature
from service.observability.logging import get_logger
from service.pipeline.gate import SendGate
from service.pipeline.handoff import Handoff, Origin, signature_of, window_of
from service.pipeline.plan import Batch
from service.pushr.outcomes import Outcome, ProviderResult

log = get_logger(__name__)
_T = TypeVar("_T")

# Result outcome stored in the ledger and published, by final ledger state.
SendFn = Callable[[Batch], Awaitable[ProviderResult]]
ScreenFn = Callable[[Batch], Awaitable[Batch]]
ResultFn = Callable[[Batch, ResultOutcome, ProviderResult | None, str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Delivered:
    result: dict[str, Any]  # the result event (as stored, when replayed)
    replayed: bool  # taken from the ledger, not sent now
    provider: ProviderResult | None  # None when nothing was sent in this attempt


class BatchDeliverer:
    def __init__(
        self,
        *,
        ledger: Ledger,
        gate: SendGate,
        clock: Clock,
        rng: random.Random,
        owner: str,
        lease_seconds: float,
        retry_base: float,
        retry_cap: float,
        on_claim: Callable[[ClaimStatus], None] | None = None,
        on_ledger_error: Callable[[], None] | None = None,
        on_unknown: Callable[[str], None] | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        self._ledger = ledger
        self._handoff = handoff
        self._gate = gate
        self._clock = clock
        self._backoff = Backoff(retry_base, retry_cap, rng)
        self._owner = owner
        self._lease = lease_seconds
        self._on_claim = on_claim
        self._on_ledger_error = on_ledger_error
        self._on_unknown = on_unknown
        self._attempt_ids = itertools.count()
        # Claims whose request is in the air, renewed together by one task (`_renew`) that
        # runs while there are any: a task per send would add a task and a timer to every
        # request, however short.
        self._in_air: dict[int, tuple[str, str]] = {}  # attempt id -> (batch key, owner)
        self._renewer: asyncio.Task[None] | None = None

    async def deliver(
        self,
        batch: Batch,
        delivery: str,
        send: SendFn,
        make_result: ResultFn,
        *,
        origin: Origin | None = None,
        screen: ScreenFn | None = None,
    ) -> Delivered:
        """`origin` (the accepted event, or a pending batch's stored context) lets an
        ambiguous outcome be handed to the reconciler; without it nothing is handed over.
        `screen` (consent, `service.pipeline.consent`) narrows the planned batch right
        before each claim; the narrowed batch is what is claimed, signed, sent and told."""
        # One owner per delivery attempt, not per process: if this process abandoned the
        # batch mid-request and meets it again, its old claim must look foreign. A counter
        # suffices (and is cheaper than uuid4): `self._owner` is unique per incarnation.
        attempt = next(self._attempt_ids)
        owner = f"{self._owner}:{attempt}"
        planned = batch
        pauses = 0
        while True:
            probe = await self._gate.pass_through()
            if screen is not None:
                batch = await self._ledger_call(lambda: screen(planned))
            signature = signature_of(origin, batch) if self._handoff else None
            claim = await self._ledger_call(partial(self._claim, planned.key, owner, signature))
            if self._on_claim:
                self._on_claim(claim.status)
            if claim.status is ClaimStatus.DONE:
                self._gate.report(probe)
                return self._replay(claim)
            if claim.status is ClaimStatus.BUSY:
                self._gate.report(probe)
                await self._clock.sleep(self._backoff.delay(pauses, floor=self._lease / 10))
                pauses += 1
                continue
            if claim.status is ClaimStatus.TAKEN_OVER:
                if self._on_unknown:
                    self._on_unknown(delivery)
                window = window_of(claim.entry)
                if signature is not None and origin is not None and window is not None:
                    self._gate.report(probe)
                    unknown = make_result(batch, "unknown", None, "lease_expired")
                    return await self._hand_over(
                        batch,
                        owner,
                        unknown,
                        origin,
                        delivery=delivery,
                        window=window,
                        provider=None,
                    )
                if delivery == "at_most_once":
                    self._gate.report(probe)
                    return await self._finish_unknown(
                        batch, owner, None, make_result, "lease_expired"
                    )

            try:
                provider = await self._send_holding_lease(attempt, batch, owner, send)
            except BaseException:
                # Cancelled mid-request: the SMS may have left. Keep the claim; its lease
                # lapses and the next owner treats the batch as ambiguous.
                self._gate.report(probe)
                raise
            outcome = provider.outcome
            if outcome in (Outcome.ACCEPTED, Outcome.REJECTED):
                self._gate.report(probe, answered=True)
                state = BatchState.SENT if outcome is Outcome.ACCEPTED else BatchState.REJECTED
                label: ResultOutcome = "sent" if outcome is Outcome.ACCEPTED else "rejected"
                result = make_result(batch, label, provider, provider.detail)
                await self._complete(batch, owner, state, result)
                return Delivered(result, replayed=False, provider=provider)
            if outcome is Outcome.AMBIGUOUS:
                self._gate.report(probe, answered=True)
                if self._on_unknown:
                    self._on_unknown(delivery)
                if signature is not None and origin is not None:
                    why = provider.detail or "ambiguous"
                    unknown = make_result(batch, "unknown", provider, why)
                    return await self._hand_over(
                        batch,
                        owner,
                        unknown,
                        origin,
                        delivery=delivery,
                        window=None,
                        provider=provider,
                    )
                if delivery == "at_most_once":
                    return await self._finish_unknown(
                        batch, owner, provider, make_result, provider.detail or "ambiguous"
                    )
                log.warning("batch_ambiguous_resend", batch_key=batch.key)
                continue  # at_least_once: we still hold the claim; send again

            # Certainly not sent: free the claim so nothing looks ambiguous later.
            await self._ledger_call(lambda: self._ledger.release(planned.key, owner))
            if outcome is Outcome.INSUFFICIENT_BALANCE:
                self._gate.report(probe, close="insufficient_balance")
            elif outcome is Outcome.UNAUTHORIZED:
                self._gate.report(probe, close="credentials_rejected")
            else:
                self._gate.report(probe)
                wait = self._backoff.delay(pauses, provider.retry_after)
                pauses += 1
                log.info("batch_deferred", batch_key=batch.key, outcome=str(outcome), wait=wait)
                await self._clock.sleep(wait)

    async def _send_holding_lease(
        self, attempt: int, batch: Batch, owner: str, send: SendFn
    ) -> ProviderResult:
        """Renew the claim while a slow request (with its retries) is in the air, so a live
        owner is never mistaken for a dead one."""
        self._in_air[attempt] = (batch.key, owner)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew())
        try:
            return await send(batch)
        finally:
            del self._in_air[attempt]
            if not self._in_air and self._renewer is not None:
                # Idle: stop ticking (a manual clock would otherwise run on by itself).
                self._renewer.cancel()
                self._renewer = None

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

    def _claim(self, key: str, owner: str, signature: Signature | None) -> Awaitable[Claim]:
        if signature is not None and self._handoff is not None:
            return self._handoff.ledger.claim_open(key, owner, self._lease, signature)
        return self._ledger.claim(key, owner, self._lease)

    async def _hand_over(
        self,
        batch: Batch,
        owner: str,
        unknown: dict[str, Any],
        origin: Origin,
        *,
        delivery: str,
        window: tuple[float, float] | None = None,
        provider: ProviderResult | None = None,
    ) -> Delivered:
        assert self._handoff is not None
        result, write = self._handoff.write(batch, owner, unknown, origin, window)
        self._handoff.written(batch.key, delivery, await self._ledger_call(write))
        return Delivered(result, replayed=False, provider=provider)

    def _replay(self, claim: Claim) -> Delivered:
        entry = claim.entry
        result = dict(entry.result or {}) if entry else {}
        return Delivered(result, replayed=True, provider=None)

    async def _finish_unknown(
        self,
        batch: Batch,
        owner: str,
        provider: ProviderResult | None,
        make_result: ResultFn,
        why: str,
    ) -> Delivered:
        result = make_result(batch, "unknown", provider, why)
        await self._complete(batch, owner, BatchState.UNKNOWN, result)
        return Delivered(result, replayed=False, provider=provider)

    async def _complete(
        self, batch: Batch, owner: str, state: BatchState, result: dict[str, Any]
    ) -> None:
        ok = await self._ledger_call(lambda: self._ledger.complete(batch.key, owner, state, result))
        if not ok:
            # Our lease lapsed and another owner took the batch over; it decides from here.
            log.warning("ledger_claim_lost", batch_key=batch.key, state=str(state))

    async def _ledger_call(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Retry the ledger until it answers: nothing may be sent without it."""
        failures = 0
        while True:
            try:
                return await call()
            except LedgerError:
                failures += 1
                if self._on_ledger_error:
                    self._on_ledger_error()
                if failures == 1:
                    log.warning("ledger_unavailable")
                await self._clock.sleep(self._backoff.delay(failures - 1))
