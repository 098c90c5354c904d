"""The parts of the relay, each made by a `build_*` function from the settings.

Builders make objects and start nothing: connections, tasks and servers are opened, and
closed, by the composition root (`service.app.run`), which owns every lifetime.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from service.accounts.held import HeldAccounts
from service.clock import Clock
from service.contract import Contract, ContractLimits
from service.contract.dead_letter import DeadLetters
from service.contract.decoder import peek_priority
from service.contract.model import DEFAULT_ACCOUNT
from service.kafka.consume import ConsumerLoop
from service.ledger.base import Ledger, ReconcilingLedger
from service.ledger.redis_rate import RedisRateLimiter
from service.observability.health import Health
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.observability.tracing import Tracing
from service.pipeline.consent import ConsentScreen
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.gate import SendGate
from service.pipeline.handle import HandlerConfig, RecordHandler
from service.pipeline.handoff import Handoff
from service.pipeline.lanes import LaneHooks, SendSlots
from service.pipeline.publish import Publisher
from service.pipeline.route import AccountRoute
from service.priority import LaneOrder, Priority
from service.pushr.breaker import BreakerSet
from service.pushr.client import PushrClient
from service.pushr.outcomes import ClientHooks
from service.pushr.ratelimit import RateBudget, RateLimiter
from service.settings import Settings

log = get_logger(__name__)

KAFKA_PING_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Core:
    """Process-wide objects every part is built from."""

    settings: Settings
    clock: Clock
    rng: random.Random
    metrics: Metrics
    health: Health
    owner: str
    tracing: Tracing = field(default_factory=Tracing.off)


def build_gate(
    core: Core, held: HeldAccounts, account: str = DEFAULT_ACCOUNT, *, may_park: bool = False
) -> SendGate:
    def on_change(reason: str, closed: bool) -> None:
        held.change(account, reason, closed)

    return SendGate(
        core.clock,
        core.settings.balance_recheck_seconds,
        on_change=on_change,
        order=lane_order(core.settings),
        may_park=may_park,
    )


def build_breakers(core: Core) -> BreakerSet:
    """One set for every account: a breaker counts only what fails for all keys alike
    (5xx, timeouts, refused connections); what Push.R answers per key acts on the
    account's own gate and rate limit."""
    metrics = core.metrics

    def on_breaker(endpoint: str, state: str) -> None:
        for name in ("closed", "open", "half_open"):
            metrics.breaker_state.labels(endpoint, name).set(1 if name == state else 0)
        log.warning("breaker_state", endpoint=endpoint, state=state)

    return BreakerSet.from_settings(core.settings, core.clock, on_state_change=on_breaker)


def build_send_slots(settings: Settings) -> SendSlots:
    """One per connection to Push.R, shared by every account's deliverer."""
    return SendSlots(settings.http_max_connections, lane_order(settings))


def lane_order(settings: Settings) -> LaneOrder:
    """A fresh lane order (each queue keeps its own credits) with the configured weights."""
    return LaneOrder(settings.lane_weight_normal, settings.lane_weight_bulk)


def lane_hooks(metrics: Metrics) -> LaneHooks:
    def on_waiting(lane: Priority, delta: int) -> None:
        metrics.send_queue.labels(lane).inc(delta)

    return LaneHooks(
        on_waiting=on_waiting,
        on_first_request=lambda lane, seconds: metrics.send_wait.labels(lane).observe(seconds),
        on_expired=lambda lane: metrics.batches_expired.labels(lane).inc(),
    )


def build_pushr_client(
    core: Core,
    http: httpx.AsyncClient,
    rate_redis: aioredis.Redis | None,
    *,
    breakers: BreakerSet | None = None,
) -> PushrClient:
    """The client of the account in `core.settings` (its keys, its rate limit)."""
    settings, clock, metrics = core.settings, core.clock, core.metrics
    shared: RateBudget | None = None
    if rate_redis is not None:
        # one budget for all replicas: Push.R's limit is per account, not per pod
        shared = RedisRateLimiter(
            rate_redis, f"{settings.ledger_key_prefix}rate", settings.rate_limit_rps
        )

    def on_wait(seconds: float) -> None:
        metrics.rate_limit_waits.inc()
        metrics.rate_limit_wait_seconds.inc(seconds)

    return PushrClient(
        http,
        settings,
        clock=clock,
        rng=core.rng,
        breakers=breakers or build_breakers(core),
        limiter=RateLimiter.from_settings(settings, clock, shared=shared, on_wait=on_wait),
        hooks=ClientHooks(
            on_request=lambda ep, outcome: metrics.provider_requests.labels(ep, str(outcome)).inc(),
            on_latency=lambda ep, seconds: metrics.provider_latency.labels(ep).observe(seconds),
            on_retry=lambda ep: metrics.provider_retries.labels(ep).inc(),
            wrap_send=core.tracing.http_send(),
        ),
    )


def build_deliverer(
    core: Core,
    ledger: Ledger,
    reconciling: ReconcilingLedger | None = None,
    *,
    gate: SendGate | None = None,
    slots: SendSlots | None = None,
) -> BatchDeliverer:
    """With `reconciling` (the same ledger), ambiguous batches are handed to the reconciler.
    `gate` and `slots`: the account's gate and the process's send slots; none = both its own,
    for the one account, `default`."""
    settings, metrics = core.settings, core.metrics
    if gate is None:
        held = HeldAccounts([DEFAULT_ACCOUNT], metrics, core.health, core.clock)
        gate = build_gate(core, held)
    handoff = None
    if reconciling is not None:
        handoff = Handoff(
            reconciling,
            settings.request_deadline_seconds(),
            on_handoff=lambda mode: metrics.reconcile_handoffs.labels(mode).inc(),
        )
    return BatchDeliverer(
        ledger=core.tracing.ledger(ledger, backend=settings.ledger_backend),
        gate=gate,
        clock=core.clock,
        rng=core.rng,
        owner=core.owner,
        lease_seconds=settings.ledger_lease_seconds,
        retry_base=settings.retry_backoff_base,
        retry_cap=settings.retry_backoff_cap,
        on_claim=lambda status: metrics.ledger_claims.labels(str(status)).inc(),
        on_ledger_error=metrics.ledger_errors.inc,
        on_unknown=lambda mode: metrics.unknown_outcomes.labels(mode).inc(),
        slots=slots or build_send_slots(settings),
        lane_hooks=lane_hooks(metrics),
        handoff=handoff,
    )


def build_handler(
    core: Core,
    ledger: Ledger,
    client: PushrClient,
    publisher: Publisher,
    *,
    deliverer: BatchDeliverer | None = None,
    routes: Mapping[str, AccountRoute] | None = None,
    limits: ContractLimits | None = None,
    consent: ConsentScreen | None = None,
) -> RecordHandler:
    """`routes` (`service.accounts.runtime`): one per account; without them, `client` and
    `deliverer` send for the one account, `default`."""
    settings, metrics = core.settings, core.metrics
    if deliverer is None and routes:
        deliverer = next(iter(routes.values())).deliverer
    deliverer = deliverer or build_deliverer(core, ledger)
    return RecordHandler(
        contract=Contract(limits or ContractLimits.from_settings(settings)),
        deliverer=deliverer,
        client=client,
        publisher=publisher,
        metrics=metrics,
        clock=core.clock,
        config=HandlerConfig(
            batch_size=settings.batch_size,
            default_business=settings.pushr_business_id,
            batches_per_event=settings.batches_per_event,
            topic_lanes=settings.topic_lanes(),
        ),
        routes=routes,
        consent=consent,
        dead_letters=DeadLetters(settings.dlq_sealing_keys()),
    )


def build_consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **settings.kafka_common(),
        group_id=settings.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.fetch_max_records,
        fetch_max_bytes=settings.fetch_max_bytes,
        max_partition_fetch_bytes=settings.fetch_max_partition_bytes,
    )


def build_consumer_loop(
    core: Core, consumer: AIOKafkaConsumer, handler: RecordHandler
) -> ConsumerLoop:
    s = core.settings
    return ConsumerLoop(
        consumer,
        core.tracing.handler(handler, group_id=s.group_id),
        metrics=core.metrics,
        health=core.health,
        clock=core.clock,
        rng=core.rng,
        max_in_flight=s.max_in_flight,
        max_in_flight_per_partition=s.max_in_flight_per_partition,
        fetch_max_records=s.fetch_max_records,
        max_in_flight_bytes=s.max_in_flight_bytes,
        revoke_deadline=s.revoke_deadline_seconds,
        lane_of=record_lane(s.topic_lanes()),
        lane_topics=s.topic_lanes(),
        fetch_ahead_bytes=s.fetch_ahead_bytes,
        max_parked=s.max_parked_events,
    )


def record_lane(topic_lanes: dict[str, Priority]) -> Callable[[str, bytes | None], Priority]:
    """A fetched record's lane before it is decoded: its lane topic's, else its field's."""

    def lane_of(topic: str, value: bytes | None) -> Priority:
        return topic_lanes.get(topic) or peek_priority(value)

    return lane_of


def kafka_ping(consumer: AIOKafkaConsumer) -> Callable[[], Awaitable[bool]]:
    async def ping() -> bool:
        # a metadata round trip: fetching alone cannot tell "no records" from "no broker"
        try:
            await asyncio.wait_for(consumer.topics(), KAFKA_PING_SECONDS)
        except Exception:
            return False
        return True

    return ping
