"""Composition root: builds everything from one Settings object and owns every lifetime.

`pushr-relay run` ends here. The `build_*` functions (`service.builders`) make the parts and
start nothing; `run` opens what has a lifetime (clients, producer, consumer, background tasks,
the HTTP server) in one `AsyncExitStack`, so they close in reverse order. SIGTERM/SIGINT stop
fetching; in-flight work drains within `shutdown_grace_seconds`; offsets are committed.
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
from collections.abc import Coroutine, Sequence
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.accounts.held import HeldAccounts
from service.accounts.load import account_secrets, contract_limits, load_accounts
from service.accounts.runtime import (
    AccountTrackers,
    build_accounts,
    one_account,
    spend_store,
)
from service.builders import (
    Core,
    build_consumer,
    build_consumer_loop,
    build_handler,
    kafka_ping,
)
from service.clock import Clock, SystemClock
from service.consent_builders import (
    build_consent,
    build_optout_reader,
    build_optout_store,
    consent_needs_redis,
)
from service.contract import REJECTION_REASONS
from service.heap import settle_heap
from service.kafka.access import check_kafka_access
from service.ledger.factory import open_ledger, redis_client
from service.ledger.redis_options import secret_values as redis_secret_values
from service.observability.health import Health, HealthServer
from service.observability.logging import configure_logging, get_logger
from service.observability.metrics import Metrics
from service.observability.tracing import Tracing, tracing_from_environment
from service.pipeline.consent import ConsentScreen
from service.pipeline.publish import Publisher, producer_options
from service.pushr.credentials import build_credentials
from service.pushr.egress import egress_secrets
from service.pushr.transport import build_http_client
from service.settings import Settings
from service.status.builders import (
    build_reconciler,
    build_status_poller,
    build_status_store,
    reconciliation_enabled,
    status_polling_enabled,
)
from service.status.tracking import TrackingPublisher

log = get_logger(__name__)


def owner_id() -> str:
    """Unique per process incarnation: a restarted pod must not inherit its old claims."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def closing_redis(
    stack: contextlib.AsyncExitStack, settings: Settings, name: str, *, needed: bool
) -> aioredis.Redis | None:
    """A Redis client closed with the stack, when `needed` and Redis is configured."""
    if not (needed and settings.redis_configured()):
        return None
    client = redis_client(settings, client_name=f"{settings.client_id}-{name}")
    stack.push_async_callback(client.aclose)
    return client


def start_background(
    stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None], name: str
) -> None:
    """Run `work` until the stack closes; a crash in it never fails a clean shutdown."""
    task = asyncio.create_task(work, name=name)

    async def stop() -> None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("background_task_crashed", task=name)

    stack.push_async_callback(stop)


async def start_consent(stack: contextlib.AsyncExitStack, core: Core) -> ConsentScreen:
    """The opt-out reader (when the list is on) runs until the stack closes; the screen
    holds every batch until the reader has read the list to its end."""
    settings = core.settings
    redis = closing_redis(stack, settings, "consent", needed=consent_needs_redis(settings))
    optouts, read = None, None
    if settings.optout_enabled:
        optouts = build_optout_store(settings, redis)
        consumer, reader = build_optout_reader(core, optouts)
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        start_background(stack, reader.run(), "optout-reader")
        core.metrics.readiness_check.labels("optout_list")
        core.health.optout_list_read = reader.ready
        read = reader.caught_up
    return build_consent(core, redis, optouts, read)


async def run(
    settings: Settings,
    *,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
    install_signals: bool = True,
    tracing: Tracing | None = None,
    owns_process: bool = False,
) -> int:
    """The relay until `stop` (or SIGTERM/SIGINT). `owns_process`: the relay is the whole
    interpreter (the CLI), so start-up ends by settling the heap (`service.heap`); a test
    that runs relays inside its own process keeps its collector as it is."""
    # OTEL_* variables that cannot work end start-up here, in one line
    tracing = tracing or tracing_from_environment()
    registry = registry or CollectorRegistry()
    stop = stop or asyncio.Event()
    clock = clock or SystemClock()
    health = Health(clock=clock, stall_seconds=settings.liveness_stall_seconds)
    health.progressed()
    metrics = Metrics(registry, REJECTION_REASONS)
    core = Core(settings, clock, random.Random(), metrics, health, owner_id(), tracing)
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(tracing.shutdown)  # last: after the producer's final acks
        # TLS and JWT files that cannot be used end start-up in one line, before any connection
        http = build_http_client(settings)
        stack.push_async_callback(http.aclose)
        configs = load_accounts(settings)  # an unusable accounts file: one line per problem
        polled = [c for c in configs if status_polling_enabled(c.settings)]
        credentials = {
            c.name: made
            for c in polled
            if (made := build_credentials(c.settings, http, clock)) is not None
        }
        # credentials the broker refuses end start-up in one line (exit 2), not a retry loop
        await check_kafka_access(settings.kafka_bootstrap_servers, settings.kafka_client_security())
        # reconciliation judges the ledger's pending batches against one account's list
        reconciling = one_account(configs) and reconciliation_enabled(configs[0].settings)
        ledger = await open_ledger(settings, clock, reconcile=reconciling)
        stack.push_async_callback(ledger.close)
        health.ledger_ping = ledger.ping
        limited = any(c.settings.rate_limit_rps > 0 for c in configs)
        rate_redis = closing_redis(stack, settings, "rate", needed=limited)
        shared = settings.ledger_backend == "redis"
        spend_redis = closing_redis(stack, settings, "spend", needed=shared)
        names = [c.name for c in configs]
        held = HeldAccounts(
            names, metrics, health, clock, redis=spend_redis, prefix=settings.ledger_key_prefix
        )
        accounts = build_accounts(
            core,
            configs,
            http=http,
            ledger=ledger,
            rate_redis=rate_redis,
            store=spend_store(core, spend_redis),
            held=held,
            reconciling=ledger if reconciling else None,
        )

        producer = AIOKafkaProducer(**settings.kafka_common(), **producer_options())
        await producer.start()
        stack.push_async_callback(producer.stop)

        sender = tracing.producer(producer)
        publisher = Publisher(sender, settings.out_topic, settings.dlq_topic)
        status_parts = {}
        if polled:
            status_redis = closing_redis(stack, settings, "status", needed=shared)
            status_parts = {
                c.name: build_status_store(accounts[c.name].core, status_redis) for c in polled
            }
            trackers = {name: tracker for name, (_, _, tracker) in status_parts.items()}
            publisher = TrackingPublisher(
                sender, settings.out_topic, settings.dlq_topic, AccountTrackers(trackers)
            )

        consent = await start_consent(stack, core)
        consumer = build_consumer(settings)
        routes = {name: part.route for name, part in accounts.items()}
        handler = build_handler(
            core,
            ledger,
            accounts[names[0]].client,
            publisher,
            routes=routes,
            limits=contract_limits(settings, configs),
            consent=consent,
        )
        consumer_loop = build_consumer_loop(core, consumer, handler)
        consumer.subscribe(settings.in_topics(), listener=consumer_loop.listener())
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        health.kafka_ping = kafka_ping(consumer)

        for name, (store, lease, _) in status_parts.items():
            if name not in credentials:
                continue
            part = accounts[name]
            reconciler = None
            if reconciling:
                reconciler = build_reconciler(
                    part.core, ledger, part.route.deliverer, part.client, publisher
                )
            poller = build_status_poller(
                part.core,
                part.client,
                publisher,
                store,
                lease,
                credentials=credentials[name],
                reconciler=reconciler,
            )
            start_background(stack, poller.run(), f"status-poller-{name}")
            log.info("status_poller_started", interval=settings.status_poll_seconds, account=name)

        server = await stack.enter_async_context(
            HealthServer(health, registry, settings.http_host, settings.http_port, metrics=metrics)
        )
        if owns_process:
            settle_heap()
        log.info(
            "relay_started",
            in_topic=settings.in_topic,
            out_topic=settings.out_topic,
            metrics_port=server.port,
            ledger=settings.ledger_backend,
            transport=settings.http_transport,
            accounts=names,
        )
        await consumer_loop.run(stop, settings.shutdown_grace_seconds)
        log.info("relay_stopped")
    return 0


def configured_secrets(settings: Settings) -> list[str]:
    """Values no log line may contain."""
    secrets = [settings.pushr_api_key_public, settings.pushr_api_key_secret, settings.pushr_jwt]
    secrets.append(settings.pushr_password)
    values = [s.get_secret_value() for s in secrets if s is not None]
    values += redis_secret_values(settings)
    values += egress_secrets(settings, os.environ)
    values += settings.kafka_security().secrets()
    values += account_secrets(settings)
    if (dlq_keys := settings.dlq_sealing_keys()) is not None:
        values += dlq_keys.secrets()
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
        return asyncio.run(run(settings, owns_process=True))
    return uvloop.run(run(settings, owns_process=True))
