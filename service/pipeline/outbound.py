"""Turns what the pipeline knows into outbound events, via the contract's builders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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

    def final(self, accepted: Accepted, tally: Tally) -> dict[str, Any]:
        request = accepted.request
        summary = BatchSummary.of(tally.outcomes, tally.total)
        status = summary.overall()
        reason = RECONCILING if tally.reconciling else "expired" if summary.expired else None
        # Recipients consent dropped (opted out, capped): a batch it emptied is no failure
        # of the others, and an event it emptied entirely is `rejected`.
        if tally.emptied == tally.total and tally.dropped:
            status, reason = "rejected", no_recipients_reason(tally.dropped)
        elif tally.emptied:
            status = BatchSummary.of(tally.kept, tally.total - tally.emptied).overall()
        return build_status_event(
            event_id=request.event_id,
            idempotency_key=request.idempotency_key,
            status=status,
            at=self._clock.now(),
            reason=reason,
            detail=f"{summary.expired} batch(es) expired before their request"
            if summary.expired
            else None,
            batches=summary,
            recipients_accepted=len(request.recipients),
            recipients_rejected=len(accepted.rejected_recipients) + len(tally.dropped),
            pushr_message_ids=tally.message_ids,
            metadata=request.metadata,
            priority=request.priority,
            rejected_recipients=tally.dropped,
        )


@dataclass(slots=True)
class Tally:
    """What the final status needs of an event's results, kept as they are published (in
    the order batches finish; message ids sorted by batch), not the results themselves."""

    total: int
    outcomes: list[ResultOutcome] = field(default_factory=list)
    _ids: dict[int, int] = field(default_factory=dict)  # batch index -> Push.R message id
    # an `unknown` among them is the reconciler's to settle: a later status follows
    reconciling: bool = False
    # consent: the recipients it left out, the batches it left empty, the others' outcomes
    dropped: list[RejectedRecipient] = field(default_factory=list)
    emptied: int = 0
    kept: list[ResultOutcome] = field(default_factory=list)

    def add(self, result: dict[str, Any]) -> None:
        self.outcomes.append(result["outcome"])
        self.dropped += dropped_recipients([result])
        if emptied(result):
            self.emptied += 1
        else:
            self.kept.append(result["outcome"])
        self.reconciling = self.reconciling or result.get("reconciliation") == "pending"
        message_id = result.get("pushr_message_id")
        if isinstance(message_id, int):
            self._ids[int(result.get("batch_index") or 0)] = message_id

    @property
    def message_ids(self) -> list[int]:
        return [self._ids[index] for index in sorted(self._ids)]
