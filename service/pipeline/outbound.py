"""Turns what the pipeline knows into outbound events, via the contract's builders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from service.clock import Clock
from service.contract import (
    Accepted,
    BatchSummary,
    Rejection,
    build_result_event,
    build_status_event,
    replay_result,
    status_accepted,
    status_expired,
    status_rejected,
)
from service.contract.consent import (
    dropped_recipients,
    emptied,
    no_recipients_reason,
    with_consent,
)
from service.contract.events import RECONCILING, ResultOutcome
from service.contract.model import RejectedRecipient
from service.pipeline.plan import Batch
from service.pushr.outcomes import ProviderResult


class EventFactory:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def result(
        self,
        accepted: Accepted,
        batch: Batch,
        outcome: ResultOutcome,
        provider: ProviderResult | None,
        detail: str,
        *,
        scheduled_at: datetime | None = None,
        dropped: Sequence[RejectedRecipient] = (),
    ) -> dict[str, Any]:
        """`scheduled_at` and `dropped`: what consent made of the batch (quiet hours moved
        its send; recipients left out), see `service.pipeline.consent`."""
        request = accepted.request
        moved = scheduled_at if scheduled_at != request.scheduled_at else None
        scheduled_at = scheduled_at or request.scheduled_at
        if outcome == "sent" and scheduled_at is not None:
            outcome = "scheduled"
        body = provider.body if provider is not None and provider.body else {}
        message_id = body.get("id")
        event = build_result_event(
            event_id=request.event_id,
            idempotency_key=request.idempotency_key,
            batch_index=batch.index,
            batch_count=batch.count,
            batch_key=batch.key,
            outcome=outcome,
            recipients=batch.recipients,
            provider_units=batch.units,
            attempts=provider.attempts if provider else 0,
            latency_ms=provider.latency_seconds * 1000 if provider else 0.0,
            produced_at=self._clock.now(),
            pushr_message_id=message_id if isinstance(message_id, int) else None,
            pushr_status=body.get("status") if isinstance(body.get("status"), str) else None,
            cost=body.get("cost"),
            http_status=provider.status_code if provider else None,
            detail=detail or None,
            metadata=request.metadata,
        )
        return with_consent(event, dropped, moved)

    def replayed(self, stored: dict[str, Any], accepted: Accepted) -> dict[str, Any]:
        """The stored result, told to the event that met it: an event reusing another's
        idempotency key must hear of the one send under its own id and metadata, or its
        producer never learns the outcome (a redelivery of the same event is unchanged)."""
        request = accepted.request
        own = {
            **stored,
            "event_id": request.event_id,
            "idempotency_key": request.idempotency_key,
            "metadata": None if request.metadata is None else dict(request.metadata),
        }
        return replay_result(own, produced_at=self._clock.now())

    def accepted(self, accepted: Accepted, batch_count: int) -> dict[str, Any]:
        return status_accepted(accepted, at=self._clock.now(), batch_count=batch_count)

    def expired(self, accepted: Accepted) -> dict[str, Any]:
        return status_expired(accepted, at=self._clock.now())

    def rejected(self, rejection: Rejection, event_id: str) -> dict[str, Any]:
        return status_rejected(rejection, at=self._clock.now(), event_id=event_id)

    def final(self, accepted: Accepted, results: list[dict[str, Any]]) -> dict[str, Any]:
        request = accepted.request
        summary = BatchSummary.of(r["outcome"] for r in results)
        ids = [r["pushr_message_id"] for r in results if isinstance(r.get("pushr_message_id"), int)]
        # "reconciling": an `unknown` here is the reconciler's to settle, a later status follows
        waiting = any(r.get("reconciliation") == "pending" for r in results)
        reason = RECONCILING if waiting else None
        status = summary.overall()
        # Recipients consent dropped (opted out, capped): a batch it emptied is no failure
        # of the others, and an event it emptied entirely is `rejected`.
        dropped = dropped_recipients(results)
        if dropped:
            kept = [r["outcome"] for r in results if not emptied(r)]
            if kept:
                status = BatchSummary.of(kept).overall()
            else:
                status, reason = "rejected", no_recipients_reason(dropped)
        return build_status_event(
            event_id=request.event_id,
            idempotency_key=request.idempotency_key,
            status=status,
            at=self._clock.now(),
            reason=reason,
            batches=summary,
            recipients_accepted=len(request.recipients),
            recipients_rejected=len(accepted.rejected_recipients) + len(dropped),
            pushr_message_ids=ids,
            metadata=request.metadata,
            rejected_recipients=dropped,
        )
