"""The consent side's parts: the opt-out store and its reader, the frequency cap, quiet
hours, and the screen the handler runs before each batch's claim; built like the rest
(`service.builders`), started by `service.app.run`.

The stores follow the ledger backend: in Redis beside the ledger when it is there (shared
by the replicas), in memory otherwise (one replica).
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from service.builders import Core
from service.configuration import ConfigurationError
from service.contract.quiet_hours import QuietHours
from service.kafka.optouts import OptOutReader
from service.ledger.frequency import FrequencyCap, MemoryFrequencyCap, RedisFrequencyCap
from service.ledger.optouts import MemoryOptOutStore, OptOutStore, RedisOptOutStore
from service.ledger.redis_options import wait_replicas
from service.pipeline.consent import ConsentRules, ConsentScreen
from service.settings import Settings


def consent_needs_redis(settings: Settings) -> bool:
    shared = settings.optout_enabled or settings.frequency_cap > 0
    return shared and settings.ledger_backend == "redis"


def build_optout_store(settings: Settings, redis: aioredis.Redis | None) -> OptOutStore:
    if redis is None:
        return MemoryOptOutStore()
    return RedisOptOutStore(
        redis, settings.ledger_key_prefix, wait_replicas=wait_replicas(settings)
    )


def build_optout_reader(core: Core, store: OptOutStore) -> tuple[AIOKafkaConsumer, OptOutReader]:
    """Its own consumer: no group (it assigns itself every partition), no commits."""
    settings = core.settings
    consumer = AIOKafkaConsumer(
        **settings.kafka_common(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    reader = OptOutReader(
        consumer,
        store,
        settings.optout_topic,
        metrics=core.metrics,
        clock=core.clock,
        rng=core.rng,
    )
    return consumer, reader


def build_consent(
    core: Core,
    redis: aioredis.Redis | None,
    optouts: OptOutStore | None,
    optouts_read: asyncio.Event | None = None,
) -> ConsentScreen:
    """`optouts_read` is set once the reader caught up: no batch is screened before."""
    settings = core.settings
    cap: FrequencyCap | None = None
    if settings.frequency_cap > 0:
        limit = settings.frequency_cap
        cap = (
            MemoryFrequencyCap(limit)
            if redis is None
            else RedisFrequencyCap(
                redis, settings.ledger_key_prefix, limit, wait_replicas=wait_replicas(settings)
            )
        )
    quiet = None
    if settings.quiet_hours_enabled:
        try:
            quiet = QuietHours.parse(settings.quiet_hours, settings.quiet_hours_timezone)
        except ValueError as exc:
            raise ConfigurationError(f"PUSHR_RELAY_QUIET_HOURS: {exc}") from None
    rules = ConsentRules(optouts, cap, quiet, settings.quiet_hours_policy, optouts_read)
    return ConsentScreen(rules, core.clock, core.metrics, settings.batch_size)
