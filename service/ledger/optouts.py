"""The opt-out list as the relay consults it: in memory (one replica) or one Redis hash
shared by the replicas.

Every replica replays the compacted topic from the beginning into the store, so a replica
that starts while others run replays records older than what the store holds. Each entry
therefore keeps the (partition, offset) it came from, and a write lands only when it is
newer (one Lua script, compare and set): a late replay never undoes a newer opt-out. A
removal is kept as an entry of its own for the same reason.

Fields are `number_digest(number)`, never the number (README "Consent").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.contract.consent import SCOPES, Scope, number_digest
from service.ledger.base import LedgerError
from service.ledger.redis_wait import confirmed_script

_REMOVED = "-"


@dataclass(frozen=True, slots=True)
class OptOutChange:
    number: str  # normalised
    scope: Scope | None  # None: off the list
    partition: int
    offset: int


class OptOutStore(Protocol):
    async def apply(self, changes: Sequence[OptOutChange]) -> None:
        """Record what the topic said, each change only when newer than the entry's."""

    async def scopes(self, numbers: Sequence[str]) -> dict[str, Scope]:
        """The opted-out ones among `numbers`, with their scope. `LedgerError` when the
        store does not answer: nothing may be sent without knowing."""

    async def size(self) -> int:
        """Numbers on the list."""


class MemoryOptOutStore:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[Scope | None, int, int]] = {}

    async def apply(self, changes: Sequence[OptOutChange]) -> None:
        for change in changes:
            held = self._entries.get(change.number)
            if held is not None and held[1] == change.partition and held[2] >= change.offset:
                continue
            self._entries[change.number] = (change.scope, change.partition, change.offset)

    async def scopes(self, numbers: Sequence[str]) -> dict[str, Scope]:
        found: dict[str, Scope] = {}
        for number in numbers:
            held = self._entries.get(number)
            if held is not None and held[0] is not None:
                found[number] = held[0]
        return found

    async def size(self) -> int:
        return sum(1 for scope, _, _ in self._entries.values() if scope is not None)


# KEYS[1] the hash, KEYS[2] the count of numbers on the list.
# ARGV: per change, field, scope ('-' = removed), partition, offset.
_APPLY = """
for i = 1, #ARGV, 4 do
  local field, scope, part, off = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local held = redis.call('HGET', KEYS[1], field)
  local newer, was_on = true, false
  if held then
    local s, p, o = string.match(held, '^([^|]*)|([^|]*)|([^|]*)$')
    was_on = s ~= '-'
    if p == part and tonumber(o) >= off then
      newer = false
    end
  end
  if newer then
    redis.call('HSET', KEYS[1], field, scope .. '|' .. part .. '|' .. ARGV[i + 3])
    local is_on = scope ~= '-'
    if is_on and not was_on then
      redis.call('INCR', KEYS[2])
    elseif was_on and not is_on then
      redis.call('DECR', KEYS[2])
    end
  end
end
return 1
"""


class RedisOptOutStore:
    """`{prefix}optouts` (hash: digest -> "scope|partition|offset") and `{prefix}optouts:count`.

    With `wait_replicas`, a batch of changes counts as applied only once that many
    replicas have it: the reader has moved past those records, so a failover that lost
    them would forget opt-outs until the next restart replays the topic.
    """

    def __init__(self, client: aioredis.Redis, prefix: str, *, wait_replicas: int = 0) -> None:
        self._client = client
        self._hash = f"{prefix}optouts"
        self._count = f"{prefix}optouts:count"
        self._wait = wait_replicas
        self._script = client.register_script(_APPLY)

    async def apply(self, changes: Sequence[OptOutChange]) -> None:
        if not changes:
            return
        args: list[str | int] = []
        for change in changes:
            scope = change.scope or _REMOVED
            args += [number_digest(change.number), scope, change.partition, change.offset]
        keys = [self._hash, self._count]
        try:
            if self._wait:
                await confirmed_script(self._client, self._script, keys, args, self._wait)
            else:
                await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise LedgerError(f"opt-out write failed: {type(exc).__name__}") from exc

    async def scopes(self, numbers: Sequence[str]) -> dict[str, Scope]:
        if not numbers:
            return {}
        try:
            held = await self._client.hmget(self._hash, [number_digest(n) for n in numbers])
        except (RedisError, OSError) as exc:
            raise LedgerError(f"opt-out lookup failed: {type(exc).__name__}") from exc
        found: dict[str, Scope] = {}
        for number, raw in zip(numbers, held, strict=True):
            if raw is None:
                continue
            scope = (raw.decode() if isinstance(raw, bytes) else str(raw)).split("|", 1)[0]
            for known in SCOPES:
                if scope == known:
                    found[number] = known
        return found

    async def size(self) -> int:
        try:
            raw = await self._client.get(self._count)
        except (RedisError, OSError) as exc:
            raise LedgerError(f"opt-out count failed: {type(exc).__name__}") from exc
        return int(raw or 0)
