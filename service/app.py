"""Composition root: builds everything from one Settings object and owns every lifetime.

`pushr-relay run` ends here. SIGTERM/SIGINT stop fetching; in-flight work drains within
`shutdown_grace_seconds`; offsets are committed; clients close in reverse order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.clock import Clock, SystemClock
from service.contract import REJECTION_REASONS, Contract, ContractLimits
from service.kafka.consume import ConsumerLoop
from service.ledger.factory import open_ledger, redis_client
from service.ledger.redis_options import secret_values as redis_secret_values
from service.ledger.redis_rate import RedisRateLimiter
from service.observability.health import Health, HealthServer
from service.observability.logging import configure_logging, get_logger
from service.observability.metrics import Metrics
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.gate import SendGate
from service.pipeline.handle import HandlerConfig, RecordHandler
from service.pipeline.publish import Publisher, producer_options
from service.pipeline.status_poller import StatusPolling
from service.pushr.breaker import BreakerSet
from service.pushr.client import ClientHooks, PushrClient
from service.pushr.ratelimit import RateBudget, RateLimiter
from service.pushr.transport import build_http_client
from service.settings import Settings

log = get_logger(__name__)

KAFKA_PING_SECONDS = 2.0


def owner_id() -> str:
    """Unique per process incarnation: a restarted pod must not inherit its old claims."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


async def run(
    settings: Settings,
    *,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
    install_signals: bool = True,
) -> int:
    clock = clock or SystemClock()
    registry = registry or CollectorRegistry()
    stop = stop or asyncio.Event()
    metrics = Metrics(registry, REJECTION_REASONS)
    rng = random.Random()
    health = Health(clock=clock, stall_seconds=settings.liveness_stall_seconds)
    health.progressed()

    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        ledger = await open_ledger(settings, clock)
        stack.push_async_callback(ledger.close)
        health.ledger_ping = ledger.ping

        http = build_http_client(settings)
        stack.push_async_callback(http.aclose)

        def on_gate(reason: str, closed: bool) -> None:
            metrics.sending_paused.labels(reason).set(1 if closed else 0)
            if reason == "credentials_rejected":
                health.credentials_ok = not closed
            log.warning("sending_paused" if closed else "sending_resumed", reason=reason)

        gate = SendGate(clock, settings.balance_recheck_seconds, on_change=on_gate)
        shared_budget: RateBudget | None = None
        if settings.rate_limit_rps > 0 and settings.redis_configured():
            # one budget for all replicas: Push.R's limit is per account, not per pod
            rate_redis = redis_client(settings, client_name="pushr-relay-rate")
            stack.push_async_callback(rate_redis.aclose)
            shared_budget = RedisRateLimiter(
                rate_redis, f"{settings.ledger_key_prefix}rate", settings.rate_limit_rps
            )

        def on_wait(seconds: float) -> None:
            metrics.rate_limit_waits.inc()
            metrics.rate_limit_wait_seconds.inc(seconds)

        def on_breaker(endpoint: str, state: str) -> None:
            for name in ("closed", "open", "half_open"):
                metrics.breaker_state.labels(endpoint, name).set(1 if name == state else 0)
            log.warning("breaker_state", endpoint=endpoint, state=state)

        client = PushrClient(
            http,
            settings,
            clock=clock,
            rng=rng,
            breakers=BreakerSet.from_settings(settings, clock, on_state_change=on_breaker),
            limiter=RateLimiter.from_settings(
                settings, clock, shared=shared_budget, on_wait=on_wait
            ),
            hooks=ClientHooks(
                on_request=lambda ep, outcome: metrics.provider_requests.labels(
                    ep, str(outcome)
                ).inc(),
                on_latency=lambda ep, seconds: metrics.provider_latency.labels(ep).observe(seconds),
                on_retry=lambda ep: metrics.provider_retries.labels(ep).inc(),
            ),
        )

        producer = AIOKafkaProducer(**settings.kafka_common(), **producer_options())
        await producer.start()
        stack.push_async_callback(producer.stop)

        # None unless a JWT is configured; then results are tracked for delivery status
        polling = StatusPolling.from_settings(
            settings, metrics=metrics, clock=clock, owner=owner_id()
        )
        if polling is not None:
            stack.push_async_callback(polling.close)
        publisher = (
            polling.publisher(producer)
            if polling is not None
            else Publisher(producer, settings.out_topic, settings.dlq_topic)
        )

        consumer = AIOKafkaConsumer(
            **settings.kafka_common(),
            group_id=settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.fetch_max_records,
            fetch_max_bytes=settings.fetch_max_bytes,
            max_partition_fetch_bytes=settings.fetch_max_partition_bytes,
        )
        deliverer = BatchDeliverer(
            ledger=ledger,
            gate=gate,
            clock=clock,
            rng=rng,
            owner=owner_id(),
            lease_seconds=settings.ledger_lease_seconds,
            retry_base=settings.retry_backoff_base,
            retry_cap=settings.retry_backoff_cap,
            on_claim=lambda status: metrics.ledger_claims.labels(str(status)).inc(),
            on_ledger_error=metrics.ledger_errors.inc,
            on_unknown=lambda mode: metrics.unknown_outcomes.labels(mode).inc(),
        )
        handler = RecordHandler(
            contract=Contract(ContractLimits.from_settings(settings)),
            deliverer=deliverer,
            client=client,
            publisher=publisher,
            metrics=metrics,
            clock=clock,
            config=HandlerConfig(
                batch_size=settings.batch_size,
                default_business=settings.pushr_business_id,
                send_concurrency=settings.http_max_connections,
            ),
        )
        loop_ = ConsumerLoop(
            consumer,
            handler,
            metrics=metrics,
            health=health,
            max_in_flight=settings.max_in_flight,
            max_in_flight_per_partition=settings.max_in_flight_per_partition,
            fetch_max_records=settings.fetch_max_records,
            max_in_flight_bytes=settings.max_in_flight_bytes,
            revoke_deadline=settings.revoke_deadline_seconds,
        )
        consumer.subscribe([settings.in_topic], listener=loop_.listener())
        await consumer.start()
        stack.push_async_callback(consumer.stop)

        async def kafka_ping() -> bool:
            # a metadata round trip: fetching alone cannot tell "no records" from "no broker"
            try:
                await asyncio.wait_for(consumer.topics(), KAFKA_PING_SECONDS)
            except Exception:
                return False
            return True

        health.kafka_ping = kafka_ping
        if polling is not None:
            polling.start(client, publisher)
            stack.push_async_callback(polling.stop)

        server = await stack.enter_async_context(
            HealthServer(health, registry, settings.http_host, settings.http_port, metrics=metrics)
        )
        log.info(
            "relay_started",
            in_topic=settings.in_topic,
            out_topic=settings.out_topic,
            metrics_port=server.port,
            ledger=settings.ledger_backend,
            transport=settings.http_transport,
        )
        await loop_.run(stop, settings.shutdown_grace_seconds)
        log.info("relay_stopped")
    return 0


def configured_secrets(settings: Settings) -> list[str]:
    """Values no log line may contain."""
    secrets = [settings.pushr_api_key_public, settings.pushr_api_key_secret, settings.pushr_jwt]
    values = [s.get_secret_value() for s in secrets if s is not None]
    values += redis_secret_values(settings)
    return [v for v in values if v]


def cli_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pushr-relay run",
        description="Consume SMS events and send them through Push.R. "
        "Configured by PUSHR_RELAY_* environment variables (see README).",
    )
    parser.parse_args(list(argv))
    settings = Settings()
    configure_logging(settings.log_level, secrets=configured_secrets(settings))
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, absent in minimal installs
    except ImportError:
        return asyncio.run(run(settings))
    return uvloop.run(run(settings))
