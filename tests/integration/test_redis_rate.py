"""The shared rate limit on a real Redis: waits follow the rate, across limiter instances,
and each replica hands its slots out in lane order.

Assertions are on the waits the limiter hands out (computed on Redis `TIME`), not on
wall-clock time; the only slack allowed for is the few milliseconds the calls themselves
take, which shrink every later wait by as much.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
import redis.asyncio as aioredis

from service.clock import SystemClock
from service.ledger import LedgerError, RedisRateLimiter
from service.priority import Priority
from service.pushr.ratelimit import RateLimiter
from tests.fixtures.redis import free_port
from tests.fixtures.redis_clients import redis_client_for
from tests.integration.relay_harness import eventually

pytestmark = pytest.mark.redis

SLACK = 0.03  # seconds the calls of one test may take in all on a loaded machine


async def test_burst_goes_now_then_waits_are_spaced_at_the_rate(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    limiter = RedisRateLimiter(redis_client, redis_key_prefix + "rl", 20.0, burst=3)
    waits = [await limiter.acquire() for _ in range(10)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    for k, wait in enumerate(waits[3:], start=1):
        assert k * 0.05 - SLACK <= wait <= k * 0.05
    assert all(b > a for a, b in itertools.pairwise(waits[3:]))


async def test_replicas_share_one_budget(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    # Three "replicas", each its own limiter object, one key: 10/s in all, not 30/s.
    replicas = [RedisRateLimiter(redis_client, redis_key_prefix + "rl", 10.0) for _ in range(3)]
    waits = sorted(await asyncio.gather(*(replicas[i % 3].acquire() for i in range(12))))
    assert waits[0] == 0.0
    for k, wait in enumerate(waits):
        assert k * 0.1 - SLACK <= wait <= k * 0.1


async def test_an_idle_budget_refills_up_to_the_burst(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    key = redis_key_prefix + "rl"
    # A slot every 250 ms: a busy machine's few milliseconds between calls cannot refill one.
    limiter = RedisRateLimiter(redis_client, key, 4.0, burst=2)
    assert [await limiter.acquire() for _ in range(2)] == [0.0, 0.0]
    assert await limiter.acquire() > 0.0
    await asyncio.sleep(1.0)  # four intervals: more than enough to refill two slots
    assert [await limiter.acquire() for _ in range(2)] == [0.0, 0.0]
    assert await limiter.acquire() > 0.0
    # Nothing lingers once the budget would be full again.
    assert 0 < await redis_client.pttl(key) <= 1000


def test_rejects_nonsense_parameters(redis_client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="rate_per_second"):
        RedisRateLimiter(redis_client, "rl", 0.0)
    with pytest.raises(ValueError, match="burst"):
        RedisRateLimiter(redis_client, "rl", 1.0, burst=0)


async def test_unreachable_redis_raises_ledger_error() -> None:
    client = redis_client_for(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(LedgerError):
            await RedisRateLimiter(client, "rl", 5.0).acquire()
    finally:
        await client.aclose()


async def test_a_replica_hands_each_shared_slot_to_its_most_urgent_waiter(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    # Two replicas on one budget; replica A has a queue of bulk callers when a critical one
    # arrives: it takes A's next slot. Order only: nothing here depends on how long it took.
    key = redis_key_prefix + "rl"
    clock = SystemClock()
    a = RateLimiter(clock, RedisRateLimiter(redis_client, key, 20.0))
    b = RateLimiter(clock, RedisRateLimiter(redis_client, key, 20.0))
    order: list[str] = []

    async def caller(limiter: RateLimiter, name: str, lane: Priority) -> None:
        assert await limiter.wait(lane=lane)
        order.append(name)

    assert await a.wait()
    bulk = [asyncio.create_task(caller(a, f"a-bulk-{i}", "bulk")) for i in range(4)]
    other = [asyncio.create_task(caller(b, f"b-bulk-{i}", "bulk")) for i in range(2)]
    async with asyncio.timeout(10):
        # queued behind the one holding A's reserved slot
        await eventually(lambda: a.waiting("bulk") >= 3, within=10, interval=0.001)
        otp = asyncio.create_task(caller(a, "a-otp", "critical"))
        await asyncio.gather(*bulk, *other, otp)
    mine = [name for name in order if name.startswith("a-")]
    assert mine.index("a-otp") <= 1  # at most the slot A had already reserved went first
    assert sorted(order) == sorted(
        ["a-otp", *(f"a-bulk-{i}" for i in range(4)), "b-bulk-0", "b-bulk-1"]
    )
