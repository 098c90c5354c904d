"""Ledger writes that count only once replicas have them (Redis `WAIT`).

`WAIT n ms` answers how many replicas have every write made so far *on its connection*, so
the script and the WAIT go in one pipeline: one connection, and a pipeline that redis-py
retries after a dropped connection repeats both (every ledger script is safe to repeat).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

# Below the socket timeout, so a missing replica reads as "not confirmed", not as a timeout.
REPLICA_WAIT_MS = 1000


class UnconfirmedWriteError(RedisError):
    """Fewer replicas than required confirmed a write within the wait."""

    def __init__(self, wanted: int, confirmed: int, within_ms: int) -> None:
        super().__init__(f"{confirmed} of {wanted} replicas confirmed within {within_ms} ms")


async def confirmed_script(
    client: aioredis.Redis,
    script: AsyncScript,
    keys: Sequence[str],
    args: Sequence[Any],
    replicas: int,
) -> Any:
    """The script's reply, once `replicas` replicas confirm it; `UnconfirmedWriteError` if not."""
    for _ in range(2):  # the second round after loading a script the server forgot
        async with client.pipeline(transaction=False) as pipe:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            pipe.wait(replicas, REPLICA_WAIT_MS)
            reply, confirmed = await pipe.execute(raise_on_error=False)
        if isinstance(reply, NoScriptError):
            script.sha = await client.script_load(script.script)
            continue
        for answer in (reply, confirmed):
            if isinstance(answer, Exception):
                raise answer
        if int(confirmed) < replicas:
            raise UnconfirmedWriteError(replicas, int(confirmed), REPLICA_WAIT_MS)
        return reply
    raise NoScriptError("the script was flushed again while it was being loaded")


async def replicas_connected(client: aioredis.Redis, replicas: int, probe_key: str) -> None:
    """Raise `UnconfirmedWriteError` unless `replicas` replicas follow the master (readiness);
    `probe_key` is looked at on the way, so a refused key fails as it would for a write."""
    within_ms = REPLICA_WAIT_MS // 2
    async with client.pipeline(transaction=False) as pipe:
        pipe.exists(probe_key)
        pipe.wait(replicas, within_ms)
        _, confirmed = await pipe.execute()
    if int(confirmed) < replicas:
        raise UnconfirmedWriteError(replicas, int(confirmed), within_ms)
