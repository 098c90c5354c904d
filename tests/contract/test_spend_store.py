"""The spend counters, one suite on both stores: this process's (on a ManualClock) and
Redis (real server). Two Redis clients stand for two replicas racing for one budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from service.clock import ManualClock
from service.ledger.budget import Check, MemorySpendStore, RedisSpendStore, SpendStore


def check(prefix: str, limit: int, amount: int, *, summed: tuple[str, ...] = ()) -> Check:
    return Check(
        counter=f"{prefix}c",
        field="units",
        limit=limit,
        amount=amount,
        ttl=3600,
        release=f"{prefix}release",
        summed=summed,
    )


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SpendStore]:
    if request.param == "memory":
        yield MemorySpendStore(ManualClock())
    else:
        url: str = request.getfixturevalue("redis_url")
        client = aioredis.Redis.from_url(url)
        try:
            yield RedisSpendStore(client)
        finally:
            await client.aclose()


@pytest.fixture
def prefix(redis_key_prefix: str) -> str:
    return f"{redis_key_prefix}spend:"


async def test_a_reservation_fits_until_the_limit_then_refuses_and_counts_nothing(
    store: SpendStore, prefix: str
) -> None:
    assert (await store.reserve([check(prefix, 10, 6)])).failed is None
    refused = await store.reserve([check(prefix, 10, 5)])
    assert refused.failed == 0
    assert refused.used == (6,)
    assert (await store.reserve([check(prefix, 10, 4)])).used == (10,)
    assert await store.read(f"{prefix}c") == {"units": 10}


async def test_all_checks_must_fit_or_none_is_counted(store: SpendStore, prefix: str) -> None:
    roomy = check(prefix, 100, 5)
    tight = Check(f"{prefix}d", "units", 3, 5, 3600, f"{prefix}release")
    found = await store.reserve([roomy, tight])
    assert found.failed == 1
    assert await store.read(f"{prefix}c") == {}
    assert await store.read(f"{prefix}d") == {}


async def test_summed_keys_count_as_used(store: SpendStore, prefix: str) -> None:
    earlier = Check(f"{prefix}m1", "units", 100, 7, 3600, f"{prefix}release")
    await store.reserve([earlier])
    found = await store.reserve([check(prefix, 10, 4, summed=(f"{prefix}m1",))])
    assert found.failed == 0
    assert found.used == (7,)


async def test_adjust_corrects_and_returns_a_reservation(store: SpendStore, prefix: str) -> None:
    await store.reserve([check(prefix, 10, 8)])
    await store.adjust([(f"{prefix}c", "units", -8, 3600)])
    assert (await store.reserve([check(prefix, 10, 10)])).failed is None


async def test_a_release_lifts_the_check_while_it_lasts(store: SpendStore, prefix: str) -> None:
    await store.reserve([check(prefix, 10, 10)])
    assert (await store.reserve([check(prefix, 10, 1)])).failed == 0
    await store.release(f"{prefix}release", 60)
    assert await store.exists(f"{prefix}release")
    assert (await store.reserve([check(prefix, 10, 1)])).failed is None


async def test_two_replicas_racing_never_overspend(redis_url: str, prefix: str) -> None:
    first = aioredis.Redis.from_url(redis_url)
    second = aioredis.Redis.from_url(redis_url)
    stores = [RedisSpendStore(first), RedisSpendStore(second)]
    try:
        answers = await asyncio.gather(
            *(stores[i % 2].reserve([check(prefix, 100, 3)]) for i in range(200))
        )
    finally:
        await first.aclose()
        await second.aclose()
    granted = sum(1 for a in answers if a.failed is None)
    assert granted == 33  # 33 * 3 = 99 <= 100 < 102: never one more
