"""Say at start-up when ledger writes wait for fewer replicas than Sentinel could promote.

A write confirmed by `WAIT n` is on n replicas; Sentinel promotes the replica with the
largest replication offset it has *read*, and during a failover its reading of the replicas
can be a second old. So with fewer confirmations than replicas, a failover may promote one
that never had a confirmed claim, and the batch could be claimed again. Only n equal to the
number of replicas holds whichever one is promoted; it costs a pause in sending while any
replica is down. Both are valid choices, so this warns once and never refuses to start.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import RedisError

from service.observability.logging import get_logger

log = get_logger(__name__)


async def live_replicas(client: aioredis.Redis, master: str) -> int | None:
    """How many replicas the sentinels see up for `master`; None without Sentinel, or when
    no sentinel answers (the ledger's own checks report that)."""
    pool = client.connection_pool
    if not isinstance(pool, SentinelConnectionPool):
        return None
    sentinels: list[Any] = pool.sentinel_manager.sentinels
    for sentinel in sentinels:
        try:
            replicas = await sentinel.sentinel_slaves(master)
        except (RedisError, OSError):
            continue
        return sum(1 for r in replicas if not (r["is_sdown"] or r["is_odown"]))
    return None


async def warn_if_below_replicas(client: aioredis.Redis, master: str, wait_replicas: int) -> None:
    replicas = await live_replicas(client, master)
    if replicas is None or wait_replicas >= replicas:
        return
    log.warning(
        "ledger_wait_below_replicas",
        wait_replicas=wait_replicas,
        replicas=replicas,
        why="a failover may promote a replica without a confirmed write",
        setting="PUSHR_RELAY_REDIS_WAIT_REPLICAS",
    )
