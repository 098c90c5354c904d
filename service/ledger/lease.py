"""One holder at a time for work that is shared by every replica (the status poller).

A lease lives on Redis's own expiry (`SET NX PX`, renewed by its holder with a
compare-and-PEXPIRE script), so replicas' clocks never have to agree. A holder that dies
stops renewing and another replica acquires the lease once it expires. With the memory
ledger there is one replica, which always holds it (`LocalLease`).

The batch claims of the ledger (`service.ledger.redis`) are not leases of this kind: they
are per-batch state machines (claimed → sent | rejected | unknown) whose lease is one field
of the batch's hash, checked inside each state transition.
"""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis


class Lease(Protocol):
    async def acquire(self) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        ...

    async def release(self) -> None: ...


class LocalLease:
    """One replica (memory ledger): always the holder."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


# KEYS[1] lease; ARGV owner, ttl_ms. 1 when the owner holds it after the call.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# KEYS[1] lease; ARGV owner. Only the holder may drop it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    def __init__(self, redis: aioredis.Redis, key: str, owner: str, ttl_seconds: float) -> None:
        self._key = key
        self._owner = owner
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        # register_script keeps the SHA and reloads on NOSCRIPT (e.g. after a restart).
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        held = await self._acquire(keys=[self._key], args=[self._owner, str(self._ttl_ms)])
        return bool(held)

    async def release(self) -> None:
        await self._release(keys=[self._key], args=[self._owner])
