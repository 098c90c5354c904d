"""What only the Redis ledger does: fail cleanly when Redis does, keep its keys under the
prefix, survive a script flush and a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from service.ledger import BatchState, ClaimStatus, LedgerError, RedisLedger
from tests.contract.ledger_backends import LONG, RESULT, TTL, Backend, RedisBackend
from tests.fixtures.redis import RedisServer, free_port
from tests.fixtures.redis_clients import redis_client_for


async def test_unreachable_redis_raises_ledger_error_and_pings_false() -> None:
    ledger = RedisLedger(
        redis_client_for(f"redis://127.0.0.1:{free_port()}/0"), prefix="p:", ttl_seconds=TTL
    )
    try:
        with pytest.raises(LedgerError) as caught:
            await ledger.claim("event-1#0/1", "a", LONG)
        assert "ConnectionError" in str(caught.value)
        with pytest.raises(LedgerError):
            await ledger.complete("event-1#0/1", "a", BatchState.SENT, RESULT)
        with pytest.raises(LedgerError):
            await ledger.get("event-1#0/1")
        assert await ledger.ping() is False
    finally:
        await ledger.close()


@pytest.mark.redis
async def test_redis_keys_live_under_the_prefix(
    redis_backend: Backend, redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    await redis_backend.ledger.claim("k", "a", LONG)
    assert await redis_client.exists(f"{redis_key_prefix}k") == 1
    assert await redis_client.exists("k") == 0


@pytest.mark.redis
async def test_redis_scripts_reload_after_script_flush(any_redis_backend: RedisBackend) -> None:
    # A restarted Redis (or a promoted replica) has forgotten every script; the ledger
    # must not care, whether its writes wait for replicas or not.
    ledger, client = any_redis_backend.ledger, any_redis_backend.client
    await client.script_flush()
    assert (await ledger.claim("k", "a", LONG)).status is ClaimStatus.CLAIMED
    await client.script_flush()
    assert await ledger.complete("k", "a", BatchState.SENT, RESULT)
    await client.script_flush()
    assert await ledger.release("k", "a") is False
    assert await ledger.ping()


@pytest.mark.redis
async def test_redis_ledger_recovers_after_a_redis_restart(
    redis_executable: str, tmp_path: Path
) -> None:
    # A private server: stopping the session one would break the tests that share it.
    server = RedisServer(tmp_path, executable=redis_executable)
    server.start()
    ledger = RedisLedger(redis_client_for(server.url), prefix="p:", ttl_seconds=TTL)
    try:
        assert (await ledger.claim("k1", "a", LONG)).status is ClaimStatus.CLAIMED
        server.stop(kill=True)
        with pytest.raises(LedgerError):
            await ledger.claim("k2", "a", LONG)
        assert await ledger.ping() is False

        server.start()
        assert server.url.endswith(f":{server.port}/0")
        assert await ledger.ping()
        # No persistence: the restarted Redis forgot k1 and every script.
        assert (await ledger.claim("k1", "b", LONG)).status is ClaimStatus.CLAIMED
    finally:
        await ledger.close()
        server.stop()
