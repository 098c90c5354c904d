"""Finishing a reconciled batch's story: its events, and the one send a verdict may call for.

A verdict committed in the ledger (`service.status.reconciler`) is made known here:

- a final verdict (sent; unknown for an ambiguous at-most-once batch; failed for one that
  expired before it could be sent) is already the ledger entry's result: publish it and a
  new status of the whole event, then drop the record;
- *send* (not sent in either mode, or ambiguous at least once): the entry was reopened, so
  the batch goes through the deliverer like any batch (claim, send, result), with the
  verdict on its result; an ambiguous outcome of that send is handed over again.

The event's status is worked out from every batch's ledger entry, so it is only published
once no batch of the event is still in flight (it would otherwise contradict the handler's).
Publication is at least once: a relay that dies in between publishes again, as results are.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from service.clock import Clock
from service.contract.events import (
    RECONCILED,
    RECONCILING,
    BatchSummary,
    Reconciliation,
    ResultOutcome,
    build_result_event,
    build_status_event,
)
from service.ledger.base import FINAL_STATES, ReconcilingLedger
from service.ledger.pending import PendingContext, Verdict
from service.observability.metrics import Metrics
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.lanes import Urgency
from service.pipeline.plan import Batch
from service.pipeline.publish import Publisher
from service.pushr.client import PushrClient
from service.pushr.outcomes import ProviderResult, SendTurn


class Settler:
    def __init__(
        self,
        *,
        ledger: ReconcilingLedger,
        deliverer: BatchDeliverer,
        client: PushrClient,
        publisher: Publisher,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.clock = clock
        self._deliverer = deliverer
        self._client = client
        self._publisher = publisher

    def result(
        self,
        context: PendingContext,
        key: str,
        outcome: ResultOutcome,
        verdict: Verdict,
        *,
        detail: str,
        message_id: int | None = None,
        status: str | None = None,
        cost: str | None = None,
        provider: ProviderResult | None = None,
    ) -> dict[str, Any]:
        """A result event of the batch as reconciliation settles it."""
        body = provider.body if provider is not None and provider.body else {}
        if outcome == "sent" and _scheduled(context, self.clock.now()) is not None:
            outcome = "scheduled"
        answered_id = body.get("id")
        return build_result_event(
            event_id=context.event_id,
            idempotency_key=context.idempotency_key,
            batch_index=context.batch_index,
            batch_count=context.batch_count,
            batch_key=key,
            outcome=outcome,
            recipients=context.recipients,
            provider_units=context.units,
            attempts=provider.attempts if provider else 0,
            latency_ms=provider.latency_seconds * 1000 if provider else 0.0,
            produced_at=self.clock.now(),
            pushr_message_id=answered_id if isinstance(answered_id, int) else message_id,
            pushr_status=body.get("status") if isinstance(body.get("status"), str) else status,
            cost=body.get("cost", cost),
            http_status=provider.status_code if provider else None,
            detail=detail,
            metadata=context.metadata,
            reconciliation=_tag(verdict),
        )

    async def send(self, key: str, context: PendingContext, verdict: Verdict) -> None:
        """The one send a verdict calls for; its result is stored by the deliverer."""
        batch = Batch(key, context.batch_index, context.batch_count, context.recipients,
                      context.units)  # fmt: skip

        async def send(b: Batch, turn: SendTurn) -> ProviderResult:
            return await self._client.send_sms(
                message=context.message,
                recipients=b.recipients,
                sender_id=context.sender_id,
                scheduled_at=_scheduled(context, self.clock.now()),
                turn=turn,
            )

        def make_result(
            b: Batch, outcome: ResultOutcome, provider: ProviderResult | None, detail: str
        ) -> dict[str, Any]:
            why = f"reconciled ({verdict.value}), sent now: {detail}" if detail else ""
            return self.result(
                context, b.key, outcome, verdict, detail=why or verdict.value, provider=provider
            )

        # In the event's lane, like its first send. Its expiry is the verdict's to judge
        # (`Reconciler._decision`), not the deliverer's: after an ambiguous attempt an
        # expired batch is `unknown`, never `expired`.
        lane = Urgency(context.priority)
        await self._deliverer.deliver(
            batch, context.delivery, send, make_result, lane, origin=context
        )

    async def publish(self, key: str, context: PendingContext) -> bool:
        """Publish the batch's stored result and the event's status; False (nothing
        published) while the batch or another of its event is not final yet."""
        entry = await self.ledger.get(key)
        if entry is None or entry.state not in FINAL_STATES or entry.result is None:
            return False
        status = await self.status(key, context)
        if status is None:
            return False
        result = entry.result
        acks = [
            await self._publisher.event(context.event_id, result),
            await self._publisher.event(context.event_id, status),
        ]
        await asyncio.gather(*acks)
        self.metrics.results_published.labels(str(result.get("outcome", "unknown"))).inc()
        self.metrics.status_published.labels(str(status["status"])).inc()
        return True

    async def status(self, key: str, context: PendingContext) -> dict[str, Any] | None:
        """The event's status from every batch's entry; None while one is not final."""
        base = key.rpartition("#")[0]
        results = []
        for index in range(context.batch_count):
            entry = await self.ledger.get(f"{base}#{index}/{context.batch_count}")
            if entry is None or entry.state not in FINAL_STATES or entry.result is None:
                return None
            results.append(entry.result)
        summary = BatchSummary.of(r.get("outcome", "unknown") for r in results)
        waiting = any(r.get("reconciliation") == "pending" for r in results)
        ids = [r["pushr_message_id"] for r in results if isinstance(r.get("pushr_message_id"), int)]
        return build_status_event(
            event_id=context.event_id,
            idempotency_key=context.idempotency_key,
            status=summary.overall(),
            at=self.clock.now(),
            reason=RECONCILING if waiting else RECONCILED,
            detail=f"batch {context.batch_index + 1} of {context.batch_count} reconciled",
            batches=summary,
            recipients_accepted=context.recipients_accepted,
            recipients_rejected=context.recipients_rejected,
            pushr_message_ids=ids,
            metadata=context.metadata,
        )


def _tag(verdict: Verdict) -> Reconciliation:
    if verdict is Verdict.SENT:
        return "sent"
    return "not_sent" if verdict is Verdict.NOT_SENT else "ambiguous"


def _scheduled(context: PendingContext, now: float) -> datetime | None:
    """The schedule, while still ahead: one that passed meanwhile is sent now."""
    if context.scheduled_at is None or context.scheduled_at <= now:
        return None
    return datetime.fromtimestamp(context.scheduled_at, UTC)
