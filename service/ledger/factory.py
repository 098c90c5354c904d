"""Build the configured ledger (and the Redis client it and the shared rate limit use)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from service.clock import Clock
from service.ledger.base import Ledger
from service.ledger.memory import MemoryLedger
from service.ledger.redis import RedisLedger
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


def redis_client(url: str, *, client_name: str = "pushr-relay") -> aioredis.Redis:
    """A client with the timeouts and retry policy the relay expects of Redis."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_POOL_TIMEOUT,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.02), REDIS_RETRIES),
        health_check_interval=15,
        client_name=client_name,
    )
    return aioredis.Redis.from_pool(pool)


async def open_ledger(settings: Settings, clock: Clock) -> Ledger:
    """The ledger named by `settings.ledger_backend`; Redis is not contacted here.

    A Redis that is down at start-up shows as not ready (`ping`) and pauses sending,
    rather than crashing the process into a restart loop.
    """
    if settings.ledger_backend == "memory":
        return MemoryLedger(clock, settings.ledger_ttl_seconds)
    if not settings.redis_url:
        raise ValueError("ledger_backend=redis needs REDIS_URL (or PUSHR_RELAY_REDIS_URL)")
    return RedisLedger(
        redis_client(settings.redis_url, client_name=f"{settings.client_id}-ledger"),
        prefix=settings.ledger_key_prefix,
        ttl_seconds=settings.ledger_ttl_seconds,
    )
