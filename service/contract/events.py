"""Outbound events: one `result` per Push.R request, `status` per lifecycle step.

The builders return plain dicts valid against schemas/sms-result.v1.json and
schemas/sms-status.v1.json (the tests check it), with every number masked and every free
text passed through the masker, so the pipeline can serialise them without a second look.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, get_args

from service.contract.masking import mask_numbers_in_text, mask_phone
from service.contract.model import (
    Accepted,
    FieldError,
    RejectedRecipient,
    Rejection,
    format_epoch,
)
from service.priority import Priority

ResultOutcome = Literal["sent", "rejected", "failed", "unknown", "scheduled", "expired"]
# On results that reconciliation touched: `pending` on the `unknown` handed to it; the
# verdict on the result that settles that batch (service.status.reconciler).
Reconciliation = Literal["pending", "sent", "not_sent", "ambiguous"]
# Status reasons: an `unknown` the reconciler will settle; a status after its verdict.
RECONCILING: Final = "reconciling"
RECONCILED: Final = "reconciled"
EventStatus = Literal[
    "accepted",
    "rejected",
    "scheduled",
    "sent",
    "partially_sent",
    "failed",
    "unknown",
    "expired",
    "delivered",
    "partial_failed",
]
SCHEMA_VERSION: Final = 1
MAX_DETAIL_CHARS: Final = 1000
MAX_PUSHR_STATUS_CHARS: Final = 64


def clean_detail(text: str | None) -> str | None:
    """Free text made safe for an event: numbers masked, length bounded."""
    if text is None:
        return None
    masked = mask_numbers_in_text(text)
    if len(masked) > MAX_DETAIL_CHARS:
        masked = masked[: MAX_DETAIL_CHARS - 1] + "…"
    return masked


def _cost(value: str | int | float | Decimal | None) -> str | None:
    # Push.R answers "2.50"; anything that is not a finite decimal is dropped, not passed on.
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return format(amount, "f") if amount.is_finite() else None


def build_result_event(
    *,
    event_id: str,
    idempotency_key: str | None,
    batch_index: int,
    batch_count: int,
    batch_key: str,
    outcome: ResultOutcome,
    recipients: Sequence[str],
    provider_units: int,
    attempts: int,
    latency_ms: float,
    produced_at: float,
    pushr_message_id: int | None = None,
    pushr_status: str | None = None,
    cost: str | int | float | Decimal | None = None,
    http_status: int | None = None,
    detail: str | None = None,
    replayed: bool = False,
    metadata: Mapping[str, Any] | None = None,
    reconciliation: Reconciliation | None = None,
) -> dict[str, Any]:
    """A result event for one batch. `recipients` are the batch's numbers (masked here);
    `produced_at` is epoch seconds from the caller's clock. `reconciliation` adds the
    `reconciled` and `reconciliation` fields (absent otherwise, as before reconciliation)."""
    event = {
        "type": "result",
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "idempotency_key": idempotency_key,
        "batch_index": batch_index,
        "batch_count": batch_count,
        "batch_key": batch_key,
        "outcome": outcome,
        "pushr_message_id": pushr_message_id,
        "pushr_status": None if pushr_status is None else pushr_status[:MAX_PUSHR_STATUS_CHARS],
        "cost": _cost(cost),
        "recipients_count": len(recipients),
        "recipients": [mask_phone(r) for r in recipients],
        "provider_units": provider_units,
        "attempts": attempts,
        "latency_ms": round(max(latency_ms, 0.0), 3),
        "http_status": http_status
        if http_status is not None and 100 <= http_status <= 599
        else None,
        "detail": clean_detail(detail),
        "replayed": replayed,
        "metadata": None if metadata is None else dict(metadata),
        "produced_at": format_epoch(produced_at),
    }
    return event if reconciliation is None else reconciled(event, reconciliation)


def reconciled(result: Mapping[str, Any], reconciliation: Reconciliation) -> dict[str, Any]:
    """`result` marked as reconciliation's: `pending` (handed to the reconciler) or the
    verdict that settled it (`reconciled` true)."""
    return {**result, "reconciled": reconciliation != "pending", "reconciliation": reconciliation}


def mark_pending(result: Mapping[str, Any]) -> dict[str, Any]:
    """An `unknown` result handed to the reconciler: a later result of the same batch key
    settles it."""
    return reconciled(result, "pending")


def replay_result(stored: Mapping[str, Any], *, produced_at: float) -> dict[str, Any]:
    """A stored result re-published for a redelivered event: same content, `replayed` true,
    `produced_at` the time of re-publishing (the original is the first publication's)."""
    return {**stored, "replayed": True, "produced_at": format_epoch(produced_at)}


@dataclass(frozen=True, slots=True)
class BatchSummary:
    total: int
    sent: int = 0
    scheduled: int = 0
    rejected: int = 0
    failed: int = 0
    unknown: int = 0
    expired: int = 0  # not sent: the event's expiry passed while the batch waited

    @classmethod
    def of(cls, outcomes: Iterable[ResultOutcome], total: int | None = None) -> BatchSummary:
        """Count the outcomes of the batches done so far; `total` defaults to their number."""
        counts = dict.fromkeys(get_args(ResultOutcome), 0)
        for outcome in outcomes:
            counts[outcome] += 1
        done = sum(counts.values())
        return cls(total=done if total is None else total, **counts)

    def overall(self) -> EventStatus:
        """The request's status once every batch is done.

        Any `unknown` wins: someone must reconcile before the request can be called
        anything else. Otherwise all delivered to Push.R is `sent` (`scheduled` when any
        batch waits for its time), a mix is `partially_sent`, none is `expired` when every
        batch expired before its request and `failed` otherwise.
        """
        if self.unknown:
            return "unknown"
        accepted = self.sent + self.scheduled
        if accepted and accepted == self.total:
            return "scheduled" if self.scheduled else "sent"
        if accepted:
            return "partially_sent"
        if self.expired and self.expired == self.total:
            return "expired"
        return "failed"

    def to_json_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "sent": self.sent,
            "scheduled": self.scheduled,
            "rejected": self.rejected,
            "failed": self.failed,
            "unknown": self.unknown,
            "expired": self.expired,
        }


def build_status_event(
    *,
    event_id: str,
    idempotency_key: str | None,
    status: EventStatus,
    at: float,
    reason: str | None = None,
    detail: str | None = None,
    batches: BatchSummary | None = None,
    recipients_accepted: int = 0,
    recipients_rejected: int = 0,
    pushr_message_ids: Sequence[int] = (),
    metadata: Mapping[str, Any] | None = None,
    errors: Sequence[FieldError] = (),
    rejected_recipients: Sequence[RejectedRecipient] = (),
    warnings: Sequence[str] = (),
    priority: Priority | None = None,
) -> dict[str, Any]:
    """A status event; `at` is epoch seconds from the caller's clock; `priority` (the
    request's lane) is left out when unknown."""
    event: dict[str, Any] = {
        "type": "status",
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "idempotency_key": idempotency_key,
        "status": status,
        "reason": reason,
        "detail": clean_detail(detail),
        "batches": (batches or BatchSummary(total=0)).to_json_dict(),
        "recipients_accepted": recipients_accepted,
        "recipients_rejected": recipients_rejected,
        "pushr_message_ids": list(pushr_message_ids),
        "metadata": None if metadata is None else dict(metadata),
        "at": format_epoch(at),
    }
    if priority is not None:
        event["priority"] = priority
    if errors:
        event["errors"] = [e.to_json_dict() for e in errors]
    if rejected_recipients:
        event["rejected_recipients"] = [r.to_json_dict() for r in rejected_recipients]
    if warnings:
        event["warnings"] = [clean_detail(w) for w in warnings]
    return event


def unknown_event_id(topic: str, partition: int, offset: int) -> str:
    """Stand-in event id for a payload too broken to carry one (status key, logs)."""
    return f"unknown:{topic}:{partition}:{offset}"


def status_rejected(rejection: Rejection, *, at: float, event_id: str) -> dict[str, Any]:
    """`rejected` status for a dead-lettered request. Pass `rejection.event_id` when set,
    else `unknown_event_id(...)`."""
    first = rejection.errors[0] if rejection.errors else None
    return build_status_event(
        event_id=event_id,
        idempotency_key=rejection.idempotency_key,
        status="rejected",
        at=at,
        reason=rejection.reason,
        detail=None if first is None else f"{first.path or '(event)'}: {first.message}",
        metadata=rejection.metadata,
        errors=rejection.errors,
        priority=rejection.priority,
    )


def status_accepted(accepted: Accepted, *, at: float, batch_count: int) -> dict[str, Any]:
    """`accepted` status: planned batches, kept and dropped recipients, warnings."""
    request = accepted.request
    return build_status_event(
        event_id=request.event_id,
        idempotency_key=request.idempotency_key,
        status="accepted",
        at=at,
        batches=BatchSummary(total=batch_count),
        recipients_accepted=len(request.recipients),
        recipients_rejected=len(accepted.rejected_recipients),
        metadata=request.metadata,
        rejected_recipients=accepted.rejected_recipients,
        warnings=accepted.warnings,
        priority=request.priority,
    )


def status_expired(accepted: Accepted, *, at: float) -> dict[str, Any]:
    """`expired` status: `expires_at` passed before anything was sent."""
    request = accepted.request
    return build_status_event(
        event_id=request.event_id,
        idempotency_key=request.idempotency_key,
        status="expired",
        at=at,
        reason="expired",
        detail="expires_at passed before the request was sent",
        recipients_accepted=len(request.recipients),
        recipients_rejected=len(accepted.rejected_recipients),
        metadata=request.metadata,
        priority=request.priority,
    )
