"""One Kafka record, start to finish: decode → (dead-letter | expire | plan → deliver)
→ publish → acknowledged. Returns only when everything it wrote was acknowledged,
so the caller may mark the offset done.

An event's batches enter the send queues lazily: planned in index order as their turn
comes, at most `batches_per_event` at once, and each result is published as its batch
ends, so neither memory nor queue length grows with the size of the event. Every batch
waits in the event's lane (`priority`; a lane topic's lane wins) and carries its expiry.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from service.clock import Clock
from service.contract import (
    Accepted,
    Contract,
    Rejection,
    SmsRequest,
    unknown_event_id,
)
from service.contract.dead_letter import DeadLetters
from service.contract.events import ResultOutcome
from service.contract.model import DEFAULT_ACCOUNT
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.pipeline.batch_job import Delivered
from service.pipeline.consent import BatchConsent, ConsentScreen
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.lanes import Urgency
from service.pipeline.outbound import EventFactory, Tally
from service.pipeline.plan import Batch, batch_count, iter_batches
from service.pipeline.publish import Publisher
from service.pipeline.route import AccountRoute
from service.priority import Priority
from service.pushr.client import PushrClient
from service.pushr.outcomes import ProviderResult, SendTurn

log = get_logger(__name__)

THREADED_DECODE_BYTES = 64 * 1024  # about 4,000 recipients


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    batch_size: int
    default_business: int | None
    batches_per_event: int = 8  # queued or sending at once, per event
    topic_lanes: Mapping[str, Priority] = field(default_factory=dict)  # lane topics


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
        routes: Mapping[str, AccountRoute] | None = None,
        dead_letters: DeadLetters | None = None,
        consent: ConsentScreen | None = None,
    ) -> None:
        self._contract = contract
        self._dead_letters = dead_letters or DeadLetters()
        self._consent = consent if consent is not None and consent.active else None
        self._deliverer = deliverer
        self._client = client
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self._config = config
        self._events = EventFactory(clock)
        # one route per account; without an accounts file, `default` from the parts above
        self._routes = routes or {
            DEFAULT_ACCOUNT: AccountRoute(
                DEFAULT_ACCOUNT, deliverer, client, config.default_business
            )
        }

    def _route(self, request: SmsRequest) -> AccountRoute:
        # the contract only accepts accounts the relay knows
        return self._routes[request.account]

    async def __call__(self, record: Any) -> None:
        structlog.contextvars.bind_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset
        )
        try:
            self._metrics.events_consumed.inc()
            timestamp = record.timestamp
            decode = functools.partial(
                self._contract.decode,
                record.value,
                now=self._clock.now(),
                produced_at=timestamp / 1000 if timestamp is not None and timestamp > 0 else None,
                lane=self._config.topic_lanes.get(record.topic),
            )
            # Normalising thousands of numbers takes tens of milliseconds of CPU: in a thread,
            # the loop keeps serving other lanes' requests meanwhile (the GIL is shared in
            # turns), instead of a one-time password waiting for a campaign to be decoded.
            large = len(record.value or b"") > THREADED_DECODE_BYTES
            decoded = await asyncio.to_thread(decode) if large else decode()
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
        dlq = self._dead_letters.build(
            record.value,
            key=record.key,
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
        if accepted.expired and not await self._met_before(request):
            self._metrics.events_expired.inc()
            ack = await self._publisher.event(request.event_id, self._events.expired(accepted))
            await ack
            self._metrics.status_published.labels("expired").inc()
            log.info("event_expired")
            return
        if self._consent is not None and not accepted.expired:
            await self._consent.hold(request.priority)  # quiet hours, policy `hold`

        count = batch_count(request, self._config.batch_size)
        status_accepted = self._events.accepted(accepted, count)
        acks = [await self._publisher.event(request.event_id, status_accepted)]
        self._metrics.status_published.labels("accepted").inc()
        expires_at = request.expires_at
        urgency = Urgency(request.priority, None if expires_at is None else expires_at.timestamp())
        tally = Tally(count)
        batches = iter_batches(request, self._config.batch_size, self._route(request).namespace)
        failures: list[BaseException] = []

        async def deliver_in_turn() -> None:
            # Workers share one plan: each takes the next batch when it is free, so at most
            # `batches_per_event` of the event's batches exist at once.
            for batch in _until_failed(batches, failures):
                try:
                    item = await self._deliver(request, accepted, batch, urgency)
                    result = (
                        self._events.replayed(item.result, accepted)
                        if item.replayed
                        else item.result
                    )
                    acks.append(await self._publisher.event(request.event_id, result))
                except Exception as exc:
                    failures.append(exc)  # the others stop taking batches; the record is retried
                    return
                tally.add(result)
                self._record_outcome(item, result)

        # Not a TaskGroup: cancelling a sibling mid-request would make its batch ambiguous.
        workers = min(self._config.batches_per_event, count)
        if workers == 1:
            await deliver_in_turn()  # one worker: no task to make, the same order and errors
        else:
            await asyncio.gather(*(deliver_in_turn() for _ in range(workers)))
        if failures:
            raise failures[0]
        status = self._events.final(accepted, tally)
        acks.append(await self._publisher.event(request.event_id, status))
        await asyncio.gather(*acks)
        self._record_final(record, status)

    async def _met_before(self, request: SmsRequest) -> bool:
        """An event expired on arrival is `expired` (never sent) only if the ledger knows
        none of its batches: after a crash a redelivery may meet a request that left, which
        the deliverer judges (replayed, `unknown` or handed to reconciliation)."""
        route = self._route(request)
        for batch in iter_batches(request, self._config.batch_size, route.namespace):
            if await route.deliverer.ledger_knows(batch.key):
                return True
        return False

    async def _deliver(
        self, request: SmsRequest, accepted: Accepted, batch: Batch, urgency: Urgency
    ) -> Delivered:
        consent: BatchConsent | None = None
        if self._consent is not None:
            consent = self._consent.for_batch(request, request.priority, batch)

        def make_result(
            b: Batch, outcome: ResultOutcome, provider: ProviderResult | None, detail: str
        ) -> dict[str, Any]:
            if consent is None:
                return self._events.result(accepted, b, outcome, provider, detail)
            return self._events.result(
                accepted, consent.batch, outcome, provider, detail,
                scheduled_at=consent.scheduled_at, dropped=consent.dropped,
            )  # fmt: skip

        route = self._route(request)

        async def send(b: Batch, turn: SendTurn) -> ProviderResult:
            scheduled = request.scheduled_at
            if consent is not None:
                endpoint = "custom" if request.kind == "template" else "send-sms"
                refused = consent.nothing_to_send(endpoint)
                if refused is not None:
                    return refused
                scheduled = consent.scheduled_at
            return await route.send(request, b, turn, self._metrics, scheduled_at=scheduled)

        # The deliverer takes a send slot only right before the ledger claim: a batch queued
        # for a connection must not hold a claim, or a crash would turn every queued batch
        # (never sent) into an ambiguous one: `unknown` at most once, a resend at least once.
        self._metrics.batches_in_flight.inc()
        try:
            return await route.deliverer.deliver(
                batch, request.delivery, send, make_result, urgency, origin=accepted, screen=consent
            )
        finally:
            self._metrics.batches_in_flight.dec()

    def _record_outcome(self, item: Delivered, result: dict[str, Any]) -> None:
        m = self._metrics
        outcome = str(result.get("outcome", "unknown"))
        m.results_published.labels(outcome).inc()
        if item.replayed:
            m.duplicates_suppressed.inc()
            return
        if item.provider is not None and outcome in ("sent", "scheduled"):
            m.sms_units.inc(float(result.get("provider_units") or 0))
            m.sms_cost.inc(float(result.get("cost") or 0))
        log.info(
            "batch_outcome",
            batch_key=result.get("batch_key"),
            outcome=outcome,
            pushr_message_id=result.get("pushr_message_id"),
            attempts=result.get("attempts"),
        )

    def _record_final(self, record: Any, status: dict[str, Any]) -> None:
        m = self._metrics
        m.status_published.labels(str(status["status"])).inc()
        if record.timestamp is not None and record.timestamp > 0:
            m.end_to_end.observe(max(0.0, self._clock.now() - record.timestamp / 1000))


def _until_failed(batches: Iterator[Batch], failures: list[BaseException]) -> Iterator[Batch]:
    for batch in batches:
        if failures:
            return
        yield batch
