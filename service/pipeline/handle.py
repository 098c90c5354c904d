"""One Kafka record, start to finish: decode → (dead-letter | expire | plan → deliver)
→ publish → acknowledged. Returns only when everything it wrote was acknowledged,
so the caller may mark the offset done.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog

from service.clock import Clock
from service.contract import (
    Accepted,
    Contract,
    Rejection,
    SmsRequest,
    build_dlq_record,
    unknown_event_id,
)
from service.contract.events import ResultOutcome
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.pipeline.consent import BatchConsent, ConsentScreen, priority_of
from service.pipeline.deliver import BatchDeliverer, Delivered
from service.pipeline.outbound import EventFactory
from service.pipeline.plan import Batch, plan_batches
from service.pipeline.publish import Publisher
from service.pushr.client import PushrClient
from service.pushr.outcomes import ProviderResult

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    batch_size: int
    default_business: int | None
    send_concurrency: int


class RecordHandler:
    def __init__(
        self,
        *,
        contract: Contract,
        deliverer: BatchDeliverer,
        client: PushrClient,
        publisher: Publisher,
        metrics: Metrics,
        clock: Clock,
        config: HandlerConfig,
        consent: ConsentScreen | None = None,
    ) -> None:
        self._contract = contract
        self._consent = consent if consent is not None and consent.active else None
        self._deliverer = deliverer
        self._client = client
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self._config = config
        self._events = EventFactory(clock)
        self._send_slots = asyncio.Semaphore(config.send_concurrency)

    async def __call__(self, record: Any) -> None:
        structlog.contextvars.bind_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset
        )
        try:
            self._metrics.events_consumed.inc()
            decoded = self._contract.decode(record.value, now=self._clock.now())
            if isinstance(decoded, Rejection):
                await self._dead_letter(record, decoded)
            else:
                structlog.contextvars.bind_contextvars(event_id=decoded.request.event_id)
                await self._accept(record, decoded)
        finally:
            structlog.contextvars.clear_contextvars()

    # --- invalid input ---------------------------------------------------------------------
    async def _dead_letter(self, record: Any, rejection: Rejection) -> None:
        self._metrics.events_rejected.labels(rejection.reason).inc()
        dlq = build_dlq_record(
            record.value,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            rejection=rejection,
            now=self._clock.now(),
        )
        # Producers read the outbound topic, so even an event without a usable id gets a
        # `rejected` status (under a stand-in id) besides its dead letter.
        event_id = rejection.event_id or unknown_event_id(
            record.topic, record.partition, record.offset
        )
        status = self._events.rejected(rejection, event_id)
        acks = [
            await self._publisher.dead_letter(rejection.event_id, dlq),
            await self._publisher.event(event_id, status),
        ]
        await asyncio.gather(*acks)
        self._metrics.events_dead_lettered.labels(rejection.reason).inc()
        self._metrics.status_published.labels("rejected").inc()
        log.info("event_dead_lettered", reason=rejection.reason)

    # --- valid input -----------------------------------------------------------------------
    async def _accept(self, record: Any, accepted: Accepted) -> None:
        request = accepted.request
        self._metrics.events_accepted.inc()
        self._metrics.recipients_accepted.inc(len(request.recipients))
        self._metrics.recipients_rejected.inc(len(accepted.rejected_recipients))
        if accepted.expired:
            self._metrics.events_expired.inc()
            ack = await self._publisher.event(request.event_id, self._events.expired(accepted))
            await ack
            self._metrics.status_published.labels("expired").inc()
            log.info("event_expired")
            return
        if self._consent is not None:
            await self._consent.hold(priority_of(request))  # quiet hours, policy `hold`

        batches = plan_batches(request, self._config.batch_size)
        status_accepted = self._events.accepted(accepted, len(batches))
        acks = [await self._publisher.event(request.event_id, status_accepted)]
        self._metrics.status_published.labels("accepted").inc()
        delivered = await asyncio.gather(
            *(self._deliver(request, accepted, batch) for batch in batches)
        )
        results = [
            self._events.replayed(item.result, accepted) if item.replayed else item.result
            for item in delivered
        ]
        for result in results:
            acks.append(await self._publisher.event(request.event_id, result))
        status = self._events.final(accepted, results)
        acks.append(await self._publisher.event(request.event_id, status))
        await asyncio.gather(*acks)
        self._record_outcomes(record, delivered, status)

    async def _deliver(self, request: SmsRequest, accepted: Accepted, batch: Batch) -> Delivered:
        consent: BatchConsent | None = None
        if self._consent is not None:
            consent = self._consent.for_batch(request, priority_of(request))

        def make_result(
            b: Batch, outcome: ResultOutcome, provider: ProviderResult | None, detail: str
        ) -> dict[str, Any]:
            if consent is None:
                return self._events.result(accepted, b, outcome, provider, detail)
            return self._events.result(
                accepted, b, outcome, provider, detail,
                scheduled_at=consent.scheduled_at, dropped=consent.dropped,
            )  # fmt: skip

        async def send(b: Batch) -> ProviderResult:
            scheduled = request.scheduled_at
            if consent is not None:
                endpoint = "custom" if request.kind == "template" else "send-sms"
                refused = consent.nothing_to_send(endpoint)
                if refused is not None:
                    return refused
                scheduled = consent.scheduled_at
            if request.kind == "template":
                business = request.business or self._config.default_business
                return await self._client.send_custom(
                    business=business or 0,
                    sender_id=request.sender_id,
                    template=request.template or "",
                    csv_bytes=b.csv_bytes or b"",
                    scheduled_at=scheduled,
                )
            return await self._client.send_sms(
                message=request.message or "",
                recipients=b.recipients,
                sender_id=request.sender_id,
                scheduled_at=scheduled,
            )

        # The slot is taken before the ledger claim, not inside `send`: a batch queued for a
        # connection must not hold a claim, or a crash would turn every queued batch (never
        # sent) into an ambiguous one: `unknown` at most once, a resend at least once.
        async with self._send_slots:
            self._metrics.batches_in_flight.inc()
            try:
                return await self._deliverer.deliver(
                    batch, request.delivery, send, make_result, origin=accepted, screen=consent
                )
            finally:
                self._metrics.batches_in_flight.dec()

    def _record_outcomes(
        self, record: Any, delivered: list[Delivered], status: dict[str, Any]
    ) -> None:
        m = self._metrics
        for item in delivered:
            outcome = str(item.result.get("outcome", "unknown"))
            m.results_published.labels(outcome).inc()
            if item.replayed:
                m.duplicates_suppressed.inc()
                continue
            if item.provider is not None and outcome in ("sent", "scheduled"):
                m.sms_units.inc(float(item.result.get("provider_units") or 0))
                m.sms_cost.inc(float(item.result.get("cost") or 0))
            log.info(
                "batch_outcome",
                batch_key=item.result.get("batch_key"),
                outcome=outcome,
                pushr_message_id=item.result.get("pushr_message_id"),
                attempts=item.result.get("attempts"),
            )
        m.status_published.labels(str(status["status"])).inc()
        if record.timestamp is not None and record.timestamp > 0:
            m.end_to_end.observe(max(0.0, self._clock.now() - record.timestamp / 1000))
