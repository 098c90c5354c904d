"""Handing an ambiguous batch to the reconciler instead of guessing its outcome.

With reconciliation on (`service.status.reconciler`), the deliverer claims every plain batch
as an *open* claim with its signature, and when the outcome is ambiguous (a timeout after
the request was written, a reset mid-answer, or a lapsed claim it took over) it does not
decide: it records the batch as pending, with its request window and everything needed to
finish it, in the same ledger write that makes the entry `unknown`
(`ReconcilingLedger.hand_over`). The record's offset can then be committed: the batch is
durably the reconciler's, whichever replica runs it, and no partition waits for a verdict.

Template sends are never handed over (see README, "Reconciliation"): their answer carries no
ids and their rows are processed after it, so they keep today's rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from service.contract import Accepted
from service.contract.events import mark_pending
from service.ledger.base import LedgerEntry, ReconcilingLedger
from service.ledger.pending import PendingContext, Signature
from service.observability.logging import get_logger
from service.pipeline.plan import Batch

log = get_logger(__name__)

Origin = Accepted | PendingContext


@dataclass(frozen=True, slots=True)
class Handoff:
    ledger: ReconcilingLedger
    # pool + connect + write + read timeouts: no request of the batch ends later than this
    # after its claim, so its window closes by then
    deadline_seconds: float
    on_handoff: Callable[[str], None] | None = None  # the delivery mode of each hand-over

    def write(
        self,
        batch: Batch,
        owner: str,
        unknown: dict[str, Any],
        origin: Origin,
        window: tuple[float, float] | None,
    ) -> tuple[dict[str, Any], Callable[[], Awaitable[bool]]]:
        """The `unknown` result as handed over, and the ledger write that hands it over
        (for the deliverer to retry until the ledger answers). A lapsed claim's `window` is
        its claim to its lease end: a request its owner wrote before dying ended, at the
        latest, a deadline after that."""
        result = mark_pending(unknown)
        if window is not None:
            window = (window[0], window[1] + self.deadline_seconds)
        context = context_of(origin, batch, str(unknown.get("detail") or "ambiguous"))

        def hand_over() -> Awaitable[bool]:
            return self.ledger.hand_over(
                batch.key,
                owner,
                result,
                context,
                window=window,
                deadline_seconds=self.deadline_seconds,
            )

        return result, hand_over

    def written(self, batch_key: str, delivery: str, ok: bool) -> None:
        if not ok:
            # Our lease lapsed and another owner took the batch over; it decides from here.
            log.warning("ledger_claim_lost", batch_key=batch_key, state="unknown")
            return
        if self.on_handoff:
            self.on_handoff(delivery)
        log.info("batch_handed_to_reconciler", batch_key=batch_key, delivery=delivery)


def signature_of(origin: Origin | None, batch: Batch) -> Signature | None:
    """The batch's signature when it can be reconciled (a plain send), else None."""
    if isinstance(origin, PendingContext):
        return origin.signature
    if origin is None or origin.request.kind != "plain" or origin.request.message is None:
        return None
    return Signature.of(origin.request.message, origin.request.sender_id, len(batch.recipients))


def context_of(origin: Origin, batch: Batch, why: str) -> PendingContext:
    if isinstance(origin, PendingContext):
        return replace(origin, why=why)
    request = origin.request
    return PendingContext(
        event_id=request.event_id,
        idempotency_key=request.idempotency_key,
        metadata=None if request.metadata is None else dict(request.metadata),
        delivery=request.delivery,
        message=request.message or "",
        sender_id=request.sender_id,
        scheduled_at=None if request.scheduled_at is None else request.scheduled_at.timestamp(),
        expires_at=None if request.expires_at is None else request.expires_at.timestamp(),
        recipients=tuple(batch.recipients),
        batch_index=batch.index,
        batch_count=batch.count,
        units=batch.units,
        recipients_accepted=len(request.recipients),
        recipients_rejected=len(origin.rejected_recipients),
        why=why,
        priority=request.priority,
    )


def window_of(lapsed: LedgerEntry | None) -> tuple[float, float] | None:
    """A lapsed claim's request window (claim to lease end), when the ledger kept it."""
    if lapsed is None or lapsed.claimed_at is None or lapsed.lease_end is None:
        return None
    return lapsed.claimed_at, max(lapsed.claimed_at, lapsed.lease_end)
