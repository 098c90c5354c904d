"""The shared ledger: one Redis hash per batch, changed only by Lua scripts.

A batch key `K` lives at `{prefix}K` as a hash:

    s  state: claimed | sent | rejected | unknown
    o  owner of the claim (kept once final: it is who completed it)
    l  lease end, Redis server time in integer milliseconds
    r  the result (orjson bytes), final entries only

Leases run on Redis `TIME`, never on a replica's clock: replicas whose clocks disagree
still agree on whether a lease has lapsed. Every check-then-write happens inside one
script, so no two replicas can both win a claim. Every Redis failure surfaces as
`LedgerError` (the engine stops sending until the ledger answers again).

Redis replicates asynchronously: a write the master acknowledged can be lost if the master
dies before a replica has it, and a failover then forgets a claim whose SMS was sent. With
`wait_replicas` N, each claim, result and release is followed by `WAIT N` on the same
connection, and counts as done only once N replicas confirm it; otherwise the call fails
(`LedgerError`) and the engine retries it, sending nothing meanwhile (`service.ledger.
redis_wait`). A repeated claim or result writes again, so its confirmation covers the first
attempt too. Lease renewals are not waited for: one lost in a failover is made good by the
next, a third of a lease later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from service.ledger.base import (
    FINAL_STATES,
    BatchState,
    Claim,
    ClaimStatus,
    LedgerEntry,
    LedgerError,
)
from service.ledger.redis_wait import confirmed_script, replicas_connected

_T = TypeVar("_T")

# Server time in ms: TIME answers {seconds, microseconds}. Lua numbers are doubles, exact
# for these integers; '%.0f' writes them without the exponent `tostring` would use.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] entry; ARGV owner, lease_ms, expire_ms.
# Reply {status, state, owner, lease_ms, result?}: the new claim for `claimed`, otherwise
# the entry as it stood before the call.
_CLAIM = (
    _NOW_MS
    + """
local key, owner = KEYS[1], ARGV[1]
local cur = redis.call('HMGET', key, 's', 'o', 'l', 'r')
local state, holder, lease = cur[1], cur[2], tonumber(cur[3]) or 0
local function take()
  local lease_until = string.format('%.0f', now + tonumber(ARGV[2]))
  redis.call('HSET', key, 's', 'claimed', 'o', owner, 'l', lease_until)
  redis.call('PEXPIRE', key, ARGV[3])
  return lease_until
end
if not state then
  return {'claimed', 'claimed', owner, take()}
end
if state ~= 'claimed' then
  return {'done', state, holder, cur[3], cur[4]}
end
if lease > now then
  if holder == owner then
    return {'claimed', 'claimed', owner, take()}
  end
  return {'busy', state, holder, cur[3]}
end
take()
return {'taken_over', state, holder, cur[3]}
"""
)

# KEYS[1] entry; ARGV owner, final state, result, ttl_ms. Returns 1 when recorded.
# The same owner completing again with the same state also returns 1: a retried call
# whose first answer was lost must not read as "claim lost".
_COMPLETE = """
local cur = redis.call('HMGET', KEYS[1], 's', 'o')
if cur[2] ~= ARGV[1] then
  return 0
end
if cur[1] == 'claimed' then
  redis.call('HSET', KEYS[1], 's', ARGV[2], 'r', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
if cur[1] == ARGV[2] then
  -- a write, so that a WAIT after a retried call covers the first one too
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
"""

# KEYS[1] entry; ARGV owner, lease_ms, expire_ms. Returns 1 when the lease was extended.
_RENEW = (
    _NOW_MS
    + """
local cur = redis.call('HMGET', KEYS[1], 's', 'o')
if cur[1] ~= 'claimed' or cur[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'l', string.format('%.0f', now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# KEYS[1] entry; ARGV owner. Returns 1 when the owner's claim was dropped.
_RELEASE = """
local cur = redis.call('HMGET', KEYS[1], 's', 'o')
if cur[1] ~= 'claimed' or cur[2] ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
"""


class OutageWatch(Protocol):
    """Told of every failure and success (see `service.ledger.redis_health.OutageLog`)."""

    def failed(self, exc: BaseException) -> None: ...

    def answered(self) -> None: ...


class RedisLedger:
    """`Ledger` on Redis, shared by every replica that uses the same `prefix`."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        ttl_seconds: int,
        ping_timeout: float = 2.0,
        close_client: bool = True,
        wait_replicas: int = 0,
        outage: OutageWatch | None = None,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        if wait_replicas < 0:
            raise ValueError("wait_replicas must not be negative")
        self._client = client
        self._prefix = prefix
        self._ttl_ms = int(ttl_seconds) * 1000
        self._ping_timeout = ping_timeout
        self._close_client = close_client
        self._wait_replicas = wait_replicas
        self._outage = outage
        # register_script keeps the SHA and reloads on NOSCRIPT (e.g. after a restart).
        self._claim = client.register_script(_CLAIM)
        self._complete = client.register_script(_COMPLETE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def claim(self, key: str, owner: str, lease_seconds: float) -> Claim:
        lease_ms = _lease_ms(lease_seconds)
        reply = await self._write(
            "claim",
            self._claim,
            [self._prefix + key],
            [owner, lease_ms, max(self._ttl_ms, lease_ms)],
        )
        status, state, holder, lease = (_text(v) for v in reply[:4])
        result = reply[4] if len(reply) > 4 else None
        return Claim(ClaimStatus(status), _entry(key, state, holder, lease, result))

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        lease_ms = _lease_ms(lease_seconds)
        reply = await self._call(
            "renew",
            self._renew(
                keys=[self._prefix + key],
                args=[owner, lease_ms, max(self._ttl_ms, lease_ms)],
            ),
        )
        return int(reply) == 1

    async def complete(
        self, key: str, owner: str, state: BatchState, result: dict[str, Any]
    ) -> bool:
        if state not in FINAL_STATES:
            raise ValueError(f"complete needs a final state, not {state}")
        payload = orjson.dumps(result)
        reply = await self._write(
            "complete",
            self._complete,
            [self._prefix + key],
            [owner, state.value, payload, self._ttl_ms],
        )
        return int(reply) == 1

    async def release(self, key: str, owner: str) -> bool:
        reply = await self._write("release", self._release, [self._prefix + key], [owner])
        return int(reply) == 1

    async def get(self, key: str) -> LedgerEntry | None:
        state, holder, lease, result = await self._call(
            "get", self._client.hmget(self._prefix + key, ["s", "o", "l", "r"])
        )
        if state is None:
            return None
        return _entry(key, _text(state), _text(holder or b""), _text(lease or b"0"), result)

    async def ping(self) -> bool:
        """Redis answers a look at a key under the prefix (an ACL user barred from the
        prefix is not ready either) and, with `wait_replicas`, has the replicas to confirm
        writes."""
        probe = self._prefix + "readiness-probe"
        try:
            async with asyncio.timeout(self._ping_timeout):
                if self._wait_replicas:
                    await replicas_connected(self._client, self._wait_replicas, probe)
                else:
                    await self._client.exists(probe)
        except (RedisError, OSError) as exc:  # OSError covers TimeoutError on 3.11
            self._failed(exc)
            return False
        self._answered()
        return True

    async def close(self) -> None:
        if self._close_client:
            await self._client.aclose()

    async def _write(
        self, op: str, script: AsyncScript, keys: list[str], args: Sequence[Any]
    ) -> Any:
        if not self._wait_replicas:
            return await self._call(op, script(keys=keys, args=args))
        return await self._call(
            op, confirmed_script(self._client, script, keys, args, self._wait_replicas)
        )

    async def _call(self, op: str, pending: Awaitable[_T]) -> _T:
        try:
            answer = await pending
        except (RedisError, OSError) as exc:
            self._failed(exc)
            # The type only: a server's error text may echo script arguments.
            raise LedgerError(f"ledger {op} failed: {type(exc).__name__}") from exc
        self._answered()
        return answer

    def _failed(self, exc: BaseException) -> None:
        if self._outage is not None:
            self._outage.failed(exc)

    def _answered(self) -> None:
        if self._outage is not None:
            self._outage.answered()


def _lease_ms(lease_seconds: float) -> int:
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    return max(1, round(lease_seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(
    key: str, state: str, owner: str, lease_ms: str, result: bytes | str | None
) -> LedgerEntry:
    return LedgerEntry(
        key=key,
        state=BatchState(state),
        owner=owner,
        lease_until=int(lease_ms) / 1000,
        result=None if result is None else orjson.loads(result),
    )
