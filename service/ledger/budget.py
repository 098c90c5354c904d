"""Spend counters shared by every replica: reserve a batch's estimate atomically, settle it.

A `Check` is one limit a batch must fit: a counter (one window bucket of one account, or
one minute of one text's blast-radius count), the keys summed with it (the earlier minutes
of a sliding window), a field, a limit, the batch's amount, and a release key that lifts
the check while it exists (`pushr-relay accounts release`). `reserve` checks every limit
and adds the amounts only when all fit, in one step: two replicas can never both take the
last units. `adjust` adds a correction (the cost Push.R returned, or the whole reservation
back when nothing was sent).

Two stores: `RedisSpendStore` (one Lua script; the window buckets are named by the caller
from the injected clock) and `MemorySpendStore` (one replica, on the same clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.clock import Clock
from service.ledger.base import LedgerError


@dataclass(frozen=True, slots=True)
class Check:
    counter: str
    field: str  # "units" | "micro_ghs" | "recipients"
    limit: int
    amount: int
    ttl: int  # seconds the counter outlives its window
    release: str
    summed: tuple[str, ...] = ()  # further keys whose `field` counts as used


@dataclass(frozen=True, slots=True)
class Reservation:
    failed: int | None  # index of the first check that did not fit; None = reserved
    used: tuple[int, ...]  # per check: used after the reservation (or as found, when failed)


class SpendStore(Protocol):
    async def reserve(self, checks: Sequence[Check]) -> Reservation: ...

    async def adjust(self, counters: Sequence[tuple[str, str, int, int]]) -> None:
        """Add (key, field, delta, ttl) to each counter."""
        ...

    async def release(self, key: str, ttl: int) -> None:
        """Lift the checks naming `key` as their release for `ttl` seconds."""
        ...

    async def read(self, key: str) -> dict[str, int]:
        """A counter's fields (empty when absent)."""
        ...

    async def exists(self, key: str) -> bool: ...


# KEYS: per check: counter, release, its summed keys. ARGV[1] = number of checks; per check:
# field, limit, amount, ttl, number of summed keys. Replies {failed index or 0, used...}.
_RESERVE = """
local n = tonumber(ARGV[1])
local k, a = 1, 2
local checks, used = {}, {}
for i = 1, n do
  local c = {counter = KEYS[k], release = KEYS[k + 1], field = ARGV[a],
             limit = tonumber(ARGV[a + 1]), amount = tonumber(ARGV[a + 2]),
             ttl = tonumber(ARGV[a + 3])}
  local extra = tonumber(ARGV[a + 4])
  local total = tonumber(redis.call('HGET', c.counter, c.field) or '0')
  for j = 1, extra do
    total = total + tonumber(redis.call('HGET', KEYS[k + 1 + j], c.field) or '0')
  end
  used[i] = total
  checks[i] = c
  if redis.call('EXISTS', c.release) == 0 and total + c.amount > c.limit then
    local reply = {i}
    for j = 1, i do reply[j + 1] = used[j] end
    return reply
  end
  k = k + 2 + extra
  a = a + 5
end
local reply = {0}
for i = 1, n do
  local c = checks[i]
  redis.call('HINCRBY', c.counter, c.field, c.amount)
  redis.call('EXPIRE', c.counter, c.ttl)
  reply[i + 1] = used[i] + c.amount
end
return reply
"""

# KEYS: counters; ARGV: per counter field, delta, ttl.
_ADJUST = """
for i = 1, #KEYS do
  local a = (i - 1) * 3
  redis.call('HINCRBY', KEYS[i], ARGV[a + 1], ARGV[a + 2])
  redis.call('EXPIRE', KEYS[i], ARGV[a + 3])
end
return 1
"""


class RedisSpendStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._reserve = client.register_script(_RESERVE)
        self._adjust = client.register_script(_ADJUST)

    async def reserve(self, checks: Sequence[Check]) -> Reservation:
        keys: list[str] = []
        args: list[Any] = [len(checks)]
        for c in checks:
            keys += [c.counter, c.release, *c.summed]
            args += [c.field, c.limit, c.amount, c.ttl, len(c.summed)]
        reply = await self._call(self._reserve(keys=keys, args=args))
        failed = int(reply[0])
        return Reservation(failed - 1 if failed else None, tuple(int(v) for v in reply[1:]))

    async def adjust(self, counters: Sequence[tuple[str, str, int, int]]) -> None:
        if not counters:
            return
        args: list[Any] = []
        for _, field, delta, ttl in counters:
            args += [field, delta, ttl]
        await self._call(self._adjust(keys=[c[0] for c in counters], args=args))

    async def release(self, key: str, ttl: int) -> None:
        await self._call(self._client.set(key, "1", ex=max(1, ttl)))

    async def read(self, key: str) -> dict[str, int]:
        raw = await self._call(self._client.hgetall(key))
        return {_text(k): int(v) for k, v in raw.items()}

    async def exists(self, key: str) -> bool:
        return bool(await self._call(self._client.exists(key)))

    @staticmethod
    async def _call(pending: Any) -> Any:
        try:
            return await pending
        except (RedisError, OSError) as exc:
            raise LedgerError(f"spend counters unavailable: {type(exc).__name__}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class MemorySpendStore:
    """The same counters in this process; expiry on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counters: dict[str, tuple[dict[str, int], float]] = {}
        self._releases: dict[str, float] = {}

    def _fields(self, key: str) -> dict[str, int]:
        found = self._counters.get(key)
        if found is None or found[1] <= self._clock.now():
            self._counters.pop(key, None)
            return {}
        return found[0]

    async def reserve(self, checks: Sequence[Check]) -> Reservation:
        used: list[int] = []
        for index, c in enumerate(checks):
            total = sum(self._fields(k).get(c.field, 0) for k in (c.counter, *c.summed))
            used.append(total)
            if not await self.exists(c.release) and total + c.amount > c.limit:
                return Reservation(index, tuple(used))
        await self.adjust([(c.counter, c.field, c.amount, c.ttl) for c in checks])
        return Reservation(None, tuple(u + c.amount for u, c in zip(used, checks, strict=True)))

    async def adjust(self, counters: Sequence[tuple[str, str, int, int]]) -> None:
        for key, field, delta, ttl in counters:
            fields = self._fields(key)
            fields[field] = fields.get(field, 0) + delta
            self._counters[key] = (fields, self._clock.now() + ttl)

    async def release(self, key: str, ttl: int) -> None:
        self._releases[key] = self._clock.now() + max(1, ttl)

    async def read(self, key: str) -> dict[str, int]:
        return dict(self._fields(key))

    async def exists(self, key: str) -> bool:
        until = self._releases.get(key)
        return until is not None and until > self._clock.now()
