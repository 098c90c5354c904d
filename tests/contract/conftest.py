"""The contract suite's backends: memory on a ManualClock, and Redis three ways (plain;
TLS with an ACL user; through Sentinel, every write confirmed by the replica)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from service.clock import ManualClock
from service.ledger import ClaimStatus, MemoryLedger
from service.ledger.redis_options import wait_replicas
from service.settings import Settings
from tests.contract.ledger_backends import (
    LONG,
    TTL,
    Backend,
    RedisBackend,
    own_client_backend,
    redis_ledger_backend,
)
from tests.fixtures.redis_secure import SentinelSetup, TlsRedis


def _reconcile(request: pytest.FixtureRequest) -> bool:
    """A test module with `RECONCILE_LEDGER = True` gets ledgers built with reconcile=True."""
    return bool(getattr(request.module, "RECONCILE_LEDGER", False))


@pytest.fixture
async def memory_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    clock = ManualClock()
    ledger = MemoryLedger(clock, TTL, reconcile=_reconcile(request))

    async def let_time_pass(seconds: float) -> None:
        clock.advance(seconds)

    async def assert_expires_after_ttl(key: str) -> None:
        clock.advance(TTL - 1)
        assert await ledger.get(key) is not None
        clock.advance(1)
        assert await ledger.get(key) is None
        assert (await ledger.claim(key, "late", LONG)).status is ClaimStatus.CLAIMED

    yield Backend("memory", ledger, let_time_pass, assert_expires_after_ttl)
    await ledger.close()


@pytest.fixture
async def redis_backend(
    request: pytest.FixtureRequest, redis_client: aioredis.Redis, redis_key_prefix: str
) -> AsyncIterator[RedisBackend]:
    backend = redis_ledger_backend(
        "redis", redis_client, redis_key_prefix, reconcile=_reconcile(request)
    )
    yield backend
    await backend.ledger.close()


@pytest.fixture
async def redis_tls_acl_backend(
    request: pytest.FixtureRequest, redis_tls: TlsRedis, redis_key_prefix: str
) -> AsyncIterator[RedisBackend]:
    settings = Settings(**redis_tls.settings())
    async for backend in own_client_backend(
        "redis-tls-acl", settings, redis_key_prefix, reconcile=_reconcile(request)
    ):
        yield backend


@pytest.fixture
async def redis_sentinel_backend(
    request: pytest.FixtureRequest, redis_sentinel: SentinelSetup, redis_key_prefix: str
) -> AsyncIterator[RedisBackend]:
    settings = Settings(**redis_sentinel.settings())
    assert wait_replicas(settings) == 1, "Sentinel's default: every write on the replica too"
    async for backend in own_client_backend(
        "redis-sentinel", settings, redis_key_prefix, reconcile=_reconcile(request)
    ):
        yield backend


REDIS_VARIANTS = ["redis", "redis_tls_acl", "redis_sentinel"]


@pytest.fixture(
    params=["memory", *(pytest.param(v, marks=pytest.mark.redis) for v in REDIS_VARIANTS)]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    found: Backend = request.getfixturevalue(f"{request.param}_backend")
    return found


@pytest.fixture(params=REDIS_VARIANTS)
def any_redis_backend(request: pytest.FixtureRequest) -> RedisBackend:
    found: RedisBackend = request.getfixturevalue(f"{request.param}_backend")
    return found
