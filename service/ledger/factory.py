"""Build the configured ledger, and the one kind of Redis client every part of the relay uses
(ledger, shared rate limit, status poller): `redis_client(settings, client_name=...)`."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff

from service.clock import Clock
from service.ledger.base import ReconcilingLedger
from service.ledger.memory import MemoryLedger
from service.ledger.redis import RedisLedger
from service.ledger.redis_health import OutageLog
from service.ledger.redis_options import (
    connection_options,
    sentinel_addresses,
    tls_options,
    uses_tls,
    wait_replicas,
)
from service.ledger.replica_coverage import warn_if_below_replicas
from service.settings import Settings

# Ledger calls are O(1) scripts: an answer slower than this means Redis is in trouble, and
# failing fast (LedgerError) lets the engine pause sending instead of hanging on a socket.
REDIS_SOCKET_TIMEOUT = 2.0
REDIS_CONNECT_TIMEOUT = 2.0
# One quick retry rides over a connection that a Redis restart left dead; more would only
# delay the pause. Every script is safe to repeat (see service.ledger.redis).
REDIS_RETRIES = 1
# Bounded so a burst of batches queues for a connection instead of opening hundreds.
REDIS_MAX_CONNECTIONS = 64
REDIS_POOL_TIMEOUT = 2.0


def redis_client(settings: Settings, *, client_name: str = "pushr-relay") -> aioredis.Redis:
    """A client with the timeouts and retry policy the relay expects of Redis, on the Redis
    the settings name: by URL, or the master the sentinels name (asked again on every new
    connection, so a failover moves the client to the new master)."""
    policy: dict[str, Any] = {
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "retry": Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.02), REDIS_RETRIES),
        "client_name": client_name,
    }
    pool: dict[str, Any] = {"max_connections": REDIS_MAX_CONNECTIONS, "timeout": REDIS_POOL_TIMEOUT}
    # What the URL's query names (`?socket_timeout=5`) still wins, as it always did.
    options = {**policy, **pool, "health_check_interval": 15, **connection_options(settings)}
    sentinels = sentinel_addresses(settings)
    if not sentinels:
        return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool(**options))
    # Sentinel's pool picks its own connection class (`ssl` chooses the TLS one).
    options.pop("connection_class", None)
    tls = uses_tls(settings)
    secret = settings.redis_sentinel_password
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        sentinels,
        sentinel_kwargs={
            **policy,
            **({"ssl": True, **tls_options(settings)} if tls else {}),
            "password": None if secret is None else secret.get_secret_value(),
        },
    )
    master = sentinel.master_for(
        settings.redis_sentinel_master or "",
        redis_class=SentinelMasterRedis,
        connection_pool_class=BlockingSentinelPool,
        ssl=tls,
        **options,
    )
    return cast(SentinelMasterRedis, master)


class BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Sentinel's master discovery with the blocking pool's bound: a burst waits for a
    connection instead of failing with "too many connections"."""


class SentinelMasterRedis(aioredis.Redis):
    """The master's client; closing it also closes the connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


async def open_ledger(
    settings: Settings, clock: Clock, *, reconcile: bool = False
) -> ReconcilingLedger:
    """The ledger named by `settings.ledger_backend`; with `reconcile`, one that also keeps
    what reconciliation needs (`service.ledger.pending`).

    Redis is asked once, never fatally: a Redis that is down or refuses the credentials at
    start-up shows as one log line and a failed readiness (`ping`) and pauses sending,
    rather than crashing the process into a restart loop.
    """
    if settings.ledger_backend == "memory":
        return MemoryLedger(clock, settings.ledger_ttl_seconds, reconcile=reconcile)
    client = redis_client(settings, client_name=f"{settings.client_id}-ledger")
    ledger = RedisLedger(
        client,
        prefix=settings.ledger_key_prefix,
        ttl_seconds=settings.ledger_ttl_seconds,
        wait_replicas=wait_replicas(settings),
        outage=OutageLog("ledger"),
        reconcile=reconcile,
    )
    if await ledger.ping() and settings.redis_sentinels:
        await warn_if_below_replicas(
            client, settings.redis_sentinel_master or "", wait_replicas(settings)
        )
    return ledger
