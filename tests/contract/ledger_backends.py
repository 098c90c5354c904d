"""The ledger backends the contract suite runs on, as values a test can drive: the ledger,
a way to let time pass (a ManualClock for memory, real time for Redis), and a check of the
TTL. The fixtures that make them are in `conftest.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from service.ledger import BatchState, RedisLedger, factory
from service.ledger.base import ReconcilingLedger
from service.ledger.redis_options import wait_replicas
from service.settings import Settings

TTL = 3600
LONG = 30.0  # a lease no test outlives
SHORT = 0.15  # a lease a test lets lapse
PAST_SHORT = 0.3  # time that certainly outlasts SHORT
FINALS = (BatchState.SENT, BatchState.REJECTED, BatchState.UNKNOWN)
RESULT = {"outcome": "sent", "message_ids": [101, 102], "detail": {"cost": "0.05"}}


@dataclass
class Backend:
    name: str
    ledger: ReconcilingLedger  # built with reconcile=True only by the `reconciling` fixtures
    let_time_pass: Callable[[float], Awaitable[None]]
    assert_expires_after_ttl: Callable[[str], Awaitable[None]]


@dataclass
class RedisBackend(Backend):
    client: aioredis.Redis  # the ledger's own client, for looks behind its back


def redis_ledger_backend(
    name: str, client: aioredis.Redis, prefix: str, *, replicas: int = 0, reconcile: bool = False
) -> RedisBackend:
    ledger = RedisLedger(
        client,
        prefix=prefix,
        ttl_seconds=TTL,
        close_client=False,
        wait_replicas=replicas,
        reconcile=reconcile,
    )

    async def assert_expires_after_ttl(key: str) -> None:
        # An hour of real waiting is not a test; Redis's own expiry is trusted once set.
        pttl = await client.pttl(prefix + key)
        assert TTL * 1000 - 5_000 < pttl <= TTL * 1000

    return RedisBackend(name, ledger, asyncio.sleep, assert_expires_after_ttl, client)


async def own_client_backend(
    name: str, settings: Settings, prefix: str, *, reconcile: bool = False
) -> AsyncIterator[RedisBackend]:
    """A backend on a client built from `settings` by the relay's builder; keys removed after."""
    client = factory.redis_client(settings, client_name="pushr-relay-test")
    backend = redis_ledger_backend(
        name, client, prefix, replicas=wait_replicas(settings), reconcile=reconcile
    )
    try:
        yield backend
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.unlink(*keys)
        await client.aclose()
