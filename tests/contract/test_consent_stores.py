"""The opt-out store and the frequency cap, one suite on both backends: memory, and a real
Redis. Replicas replay the opt-out topic from the beginning into one store, so an older
record must never undo a newer one; two replicas must never both take a last place."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from service.contract.consent import number_digest
from service.ledger.frequency import (
    WINDOW_SECONDS,
    FrequencyCap,
    MemoryFrequencyCap,
    RedisFrequencyCap,
)
from service.ledger.optouts import (
    MemoryOptOutStore,
    OptOutChange,
    OptOutStore,
    RedisOptOutStore,
)

AMA, KOFI, ESI = "233558544343", "233248769324", "233201234567"


@dataclass
class Stores:
    optouts: OptOutStore
    cap: FrequencyCap
    twin_cap: FrequencyCap  # a second replica's view of the same cap


@pytest.fixture
def memory_stores() -> Stores:
    cap = MemoryFrequencyCap(2)
    return Stores(MemoryOptOutStore(), cap, cap)


@pytest.fixture
def redis_stores(redis_client: aioredis.Redis, redis_key_prefix: str) -> Stores:
    return Stores(
        RedisOptOutStore(redis_client, redis_key_prefix),
        RedisFrequencyCap(redis_client, redis_key_prefix, 2),
        RedisFrequencyCap(redis_client, redis_key_prefix, 2),
    )


@pytest.fixture(params=["memory", "redis"])
def stores(request: pytest.FixtureRequest) -> Stores:
    found: Stores = request.getfixturevalue(f"{request.param}_stores")
    return found


async def test_an_opt_out_is_found_with_its_scope_and_counted(stores: Stores) -> None:
    await stores.optouts.apply([OptOutChange(AMA, "all", 0, 1), OptOutChange(KOFI, "bulk", 0, 2)])
    assert await stores.optouts.scopes([AMA, KOFI, ESI]) == {AMA: "all", KOFI: "bulk"}
    assert await stores.optouts.size() == 2
    await stores.optouts.apply([OptOutChange(AMA, None, 0, 3)])
    assert await stores.optouts.scopes([AMA, KOFI]) == {KOFI: "bulk"}
    assert await stores.optouts.size() == 1


async def test_a_late_replay_never_undoes_a_newer_record(stores: Stores) -> None:
    # replica A read the topic to the end; replica B starts and replays it from offset 0
    await stores.optouts.apply([OptOutChange(AMA, "all", 0, 7)])
    await stores.optouts.apply([OptOutChange(AMA, None, 0, 2), OptOutChange(AMA, "bulk", 0, 5)])
    assert await stores.optouts.scopes([AMA]) == {AMA: "all"}
    await stores.optouts.apply([OptOutChange(AMA, None, 0, 9)])
    await stores.optouts.apply([OptOutChange(AMA, "all", 0, 7)])  # the replay again
    assert await stores.optouts.scopes([AMA]) == {}
    assert await stores.optouts.size() == 0


async def test_the_cap_counts_a_batch_once_and_stops_at_the_limit(stores: Stores) -> None:
    now = 1_800_000_000.0
    assert await stores.cap.reserve([AMA, KOFI], "e1#0/1", now) == set()
    assert await stores.cap.reserve([AMA, KOFI], "e1#0/1", now + 1) == set()  # a retry
    assert await stores.cap.reserve([AMA], "e2#0/1", now + 2) == set()
    assert await stores.cap.reserve([AMA, KOFI], "e3#0/1", now + 3) == {AMA}
    # a redelivery of a batch that had its place keeps it, even at the limit
    assert await stores.cap.reserve([AMA], "e2#0/1", now + 4) == set()


async def test_the_window_rolls(stores: Stores) -> None:
    now = 1_800_000_000.0
    await stores.cap.reserve([AMA], "e1#0/1", now)
    await stores.cap.reserve([AMA], "e2#0/1", now + 3600)
    assert await stores.cap.reserve([AMA], "e3#0/1", now + WINDOW_SECONDS - 1) == {AMA}
    assert await stores.cap.reserve([AMA], "e3#0/1", now + WINDOW_SECONDS) == set()
    assert await stores.cap.reserve([AMA], "e4#0/1", now + WINDOW_SECONDS + 1) == {AMA}


async def test_two_replicas_never_both_take_the_last_place(stores: Stores) -> None:
    now = 1_800_000_000.0
    await stores.cap.reserve([AMA], "first#0/1", now)
    answers = await asyncio.gather(
        *(
            (stores.cap if i % 2 else stores.twin_cap).reserve([AMA], f"e{i}#0/1", now + 1)
            for i in range(20)
        )
    )
    assert sum(1 for capped in answers if not capped) == 1


async def test_redis_names_no_number_in_clear(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    await RedisOptOutStore(redis_client, redis_key_prefix).apply([OptOutChange(AMA, "all", 0, 1)])
    await RedisFrequencyCap(redis_client, redis_key_prefix, 3).reserve([AMA], "e#0/1", 1e9)
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_key_prefix}*")]
    fields = await redis_client.hkeys(f"{redis_key_prefix}optouts")
    names = " ".join(keys + [f.decode() if isinstance(f, bytes) else f for f in fields])
    assert AMA not in names
    assert AMA[3:] not in names
    assert number_digest(AMA) in names
