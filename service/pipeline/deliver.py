"""Send one batch at most once (or at least once), with the ledger as the memory.

    gate ─► slot ─► claim ─┬─ DONE ────────► re-publish the stored result (no send)
                           ├─ BUSY ────────► give the slot back, wait, ask again
                           ├─ TAKEN_OVER ──► ambiguous: at_most_once → unknown; else send
                           └─ CLAIMED ─► send ─┬─ accepted / rejected ─► complete, publish
                                               ├─ ambiguous ─► per delivery mode
                                               ├─ expired ─► release: `expired`, never sent
                                               └─ not sent (retry-safe, breaker, balance,
                                                  401, held) ─► release, back off, again

A claim is held only while a request may be in the air, so a long pause (no balance,
breaker open) never lets a lease lapse into a false "ambiguous". Every wait is in lane
order and holds neither a send slot nor a claim (`lanes.py`); each attempt is one client
call (`SendTurn`), so retries back off here. Expiry is checked after every wait: out of the
gate, on a fresh claim, and by the client right before the request. A batch is `expired`
only when nothing can have left; after an ambiguous attempt or a lapsed owner, `unknown`.

With a `Handoff` (reconciliation on), both ambiguous branches hand a plain batch to the
reconciler instead, in both modes: `unknown` now, its verdict later (`pipeline.handoff`);
a taken-over claim is never resent before that verdict.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from service.backoff import Backoff
from service.clock import Clock
from service.contract.events import ResultOutcome
from service.ledger.base import BatchState, Claim, ClaimStatus, Ledger, LedgerError
from service.observability.logging import get_logger
from service.pipeline.batch_job import Delivered, Job, ResultFn, ScreenFn, SendFn
from service.pipeline.gate import SendGate
from service.pipeline.handoff import Handoff, Origin, signature_of, window_of
from service.pipeline.lanes import LaneHooks, LaneWaits, SendSlots, Urgency
from service.pipeline.plan import Batch
from service.pipeline.renew import LeaseRenewer
from service.pushr.client import CUSTOM, SEND_SMS
from service.pushr.outcomes import Outcome, ProviderResult, SendTurn, gate_reason

log = get_logger(__name__)
_T = TypeVar("_T")


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
        slots: SendSlots | None = None,
        lane_hooks: LaneHooks | None = None,
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
        # one slot per connection to Push.R; without a scheduler (tests), as many as asked
        self._slots = slots or SendSlots(1 << 30)
        self._lanes = lane_hooks or LaneHooks()
        self._attempt_ids = itertools.count()
        self._leases = LeaseRenewer(ledger, clock, lease_seconds, on_ledger_error)

    async def deliver(
        self,
        batch: Batch,
        delivery: str,
        send: SendFn,
        make_result: ResultFn,
        urgency: Urgency | None = None,
        *,
        origin: Origin | None = None,
        screen: ScreenFn | None = None,
    ) -> Delivered:
        """`origin` (the accepted event, or a pending batch's stored context) lets an
        ambiguous outcome be handed to the reconciler; without it nothing is handed over."""
        # One owner per attempt, not per process: if this process abandoned the batch
        # mid-request and meets it again, its old claim must look foreign.
        urgency = urgency or Urgency()
        attempt = next(self._attempt_ids)
        waits = LaneWaits(urgency.lane, self._lanes, self._clock)
        job = Job(batch, delivery, f"{self._owner}:{attempt}", attempt, urgency, send, waits)
        signature = signature_of(origin, batch) if self._handoff else None
        if signature is not None:  # a plain send: its ambiguity goes to the reconciler
            job.origin, job.signature = origin, signature
        job.screen = screen
        endpoint = CUSTOM if batch.csv_bytes is not None else SEND_SMS
        pauses = 0
        while True:
            waits.begin()
            try:
                probe = await self._gate.pass_through(urgency.lane, endpoint, urgency.expires_at)
                step = await self._claim_and_send(job, probe, make_result)
            finally:
                waits.end()
            if isinstance(step, Delivered):
                return step
            if step is None:  # BUSY: another owner holds a live lease
                await self._clock.sleep(self._backoff.delay(pauses, floor=self._lease / 10))
                pauses += 1
                continue
            provider = step
            job.tries = provider.attempts
            outcome = provider.outcome
            if outcome in (Outcome.ACCEPTED, Outcome.REJECTED):
                self._gate.report(probe, answered=True)
                state = BatchState.SENT if outcome is Outcome.ACCEPTED else BatchState.REJECTED
                label: ResultOutcome = "sent" if outcome is Outcome.ACCEPTED else "rejected"
                result = make_result(batch, label, provider, provider.detail)
                await self._complete(batch, job.owner, state, result)
                return Delivered(result, replayed=False, provider=provider)
            if outcome is Outcome.EXPIRED:  # the client found it expired at the request
                self._gate.report(probe, attempted=False)
                return await self._expire(job, make_result, provider)
            if outcome is Outcome.AMBIGUOUS:
                self._gate.report(probe, answered=True)
                if self._on_unknown:
                    self._on_unknown(delivery)
                why = provider.detail or "ambiguous"
                if job.origin is not None:
                    unknown = make_result(batch, "unknown", provider, why)
                    return await self._hand_over(job, unknown, None, provider)
                if delivery == "at_most_once":
                    return await self._finish_unknown(batch, job.owner, provider, make_result, why)
                job.maybe_sent = True
                log.warning("batch_ambiguous_resend", batch_key=batch.key)
                continue  # at_least_once: we still hold the claim; send again

            # Certainly not sent: free the claim so nothing looks ambiguous later.
            await self._ledger_call(lambda: self._ledger.release(batch.key, job.owner))
            if (reason := gate_reason(provider)) is not None:  # the account cannot send
                self._gate.report(probe, close=reason)
            elif outcome is Outcome.BREAKER_OPEN and provider.retry_after:
                # Wait out the open breaker in the gate: its waiters then go in lane order.
                self._gate.report(probe, attempted=False)
                self._gate.hold(provider.endpoint, provider.retry_after)
            else:
                self._gate.report(probe)
                wait = self._backoff.delay(pauses, provider.retry_after)
                pauses += 1
                log.info(
                    "batch_deferred",
                    batch_key=batch.key,
                    outcome=str(outcome),
                    attempts=job.tries,
                    detail=provider.detail,
                    wait=round(wait, 3),
                )
                await self._clock.sleep(wait)

    async def _claim_and_send(
        self, job: Job, probe: bool, make_result: ResultFn
    ) -> Delivered | ProviderResult | None:
        """One turn with a send slot: claim, then send unless the ledger or the batch's
        expiry says otherwise. None when another owner holds the batch (ask again later)."""
        batch = await self._ledger_call(job.screened)
        await self._slots.acquire(job.urgency.lane)
        try:
            claim = await self._ledger_call(lambda: self._claim(job))
            if self._on_claim:
                self._on_claim(claim.status)
            if claim.status is ClaimStatus.DONE:
                self._gate.report(probe, attempted=False)
                return self._replay(claim)
            if claim.status is ClaimStatus.BUSY:
                self._gate.report(probe, attempted=False)
                return None
            if claim.status is ClaimStatus.TAKEN_OVER:
                if self._on_unknown:
                    self._on_unknown(job.delivery)
                window = window_of(claim.entry)
                if job.origin is not None and window is not None:
                    self._gate.report(probe, attempted=False)
                    unknown = make_result(batch, "unknown", None, "lease_expired")
                    return await self._hand_over(job, unknown, window, None)
                if job.delivery == "at_most_once":
                    self._gate.report(probe, attempted=False)
                    return await self._finish_unknown(
                        batch, job.owner, None, make_result, "lease_expired"
                    )
                job.maybe_sent = True
            if job.urgency.passed(self._clock.now()):
                self._gate.report(probe, attempted=False)
                return await self._expire(job, make_result, None)
            turn = SendTurn(
                lane=job.urgency.lane,
                expires_at=job.urgency.expires_at,
                attempts_before=job.tries,
                on_request=job.waits.requested,
            )
            self._leases.hold(job.attempt, batch.key, job.owner)
            try:
                return await job.send(batch, turn)
            except BaseException:
                # Cancelled mid-request: the SMS may have left. Keep the claim; its lease
                # lapses and the next owner treats the batch as ambiguous.
                self._gate.report(probe)
                raise
            finally:
                self._leases.drop(job.attempt)
        finally:
            self._slots.release()

    async def _expire(
        self, job: Job, make_result: ResultFn, provider: ProviderResult | None
    ) -> Delivered:
        """Expired while waiting, holding the claim: `expired` when nothing can have left,
        `unknown` when an earlier attempt or a lapsed owner may have sent it."""
        if self._lanes.on_expired:
            self._lanes.on_expired(job.urgency.lane)
        if job.maybe_sent:
            why = "expired after an attempt that may have been sent"
            return await self._finish_unknown(job.batch, job.owner, provider, make_result, why)
        # Certainly not sent, and not kept: an event reusing the key may still send it.
        await self._ledger_call(lambda: self._ledger.release(job.batch.key, job.owner))
        provider = provider or ProviderResult(
            outcome=Outcome.EXPIRED, endpoint="", detail=SendTurn.EXPIRED, attempts=job.tries
        )
        result = make_result(job.batch, "expired", provider, SendTurn.EXPIRED)
        log.info("batch_expired", batch_key=job.batch.key, lane=job.urgency.lane)
        return Delivered(result, replayed=False, provider=None)

    def _claim(self, job: Job) -> Awaitable[Claim]:
        if job.signature is not None and self._handoff is not None:
            ledger = self._handoff.ledger
            return ledger.claim_open(job.batch.key, job.owner, self._lease, job.signature)
        return self._ledger.claim(job.batch.key, job.owner, self._lease)

    async def _hand_over(
        self,
        job: Job,
        unknown: dict[str, Any],
        window: tuple[float, float] | None,
        provider: ProviderResult | None,
    ) -> Delivered:
        assert self._handoff is not None
        assert job.origin is not None
        result, write = self._handoff.write(job.batch, job.owner, unknown, job.origin, window)
        self._handoff.written(job.batch.key, job.delivery, await self._ledger_call(write))
        return Delivered(result, replayed=False, provider=provider)

    async def ledger_knows(self, key: str) -> bool:  # a claim or an outcome of the batch
        return await self._ledger_call(lambda: self._ledger.get(key)) is not None

    def _replay(self, claim: Claim) -> Delivered:
        return Delivered(dict(claim.entry.result or {}) if claim.entry else {}, True, None)

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
