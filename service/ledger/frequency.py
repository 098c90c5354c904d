"""The frequency cap's memory: how many `bulk` batches reached each recipient in the last
24 hours, in memory (one replica) or in Redis (shared by the replicas).

A reservation names the batch (its ledger key), so asking again for the same batch (a
retry, a redelivery) never counts twice, and one script decides every recipient of a batch
at once: two replicas can never both take a recipient's last place. Places are taken on
the relay's clock; a 24-hour window makes the seconds replicas' clocks disagree by moot.
Keys are `{prefix}freq:{number_digest(number)}`, never the number (README "Consent").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.contract.consent import number_digest
from service.ledger.base import LedgerError
from service.ledger.redis_wait import confirmed_script

WINDOW_SECONDS: Final = 24 * 3600.0


class FrequencyCap(Protocol):
    async def reserve(self, numbers: Sequence[str], batch_key: str, now: float) -> set[str]:
        """Take a place for `batch_key` with each number; answer the numbers that are
        capped (their places in the window are all taken by other batches)."""


class MemoryFrequencyCap:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._sent: dict[str, dict[str, float]] = {}

    async def reserve(self, numbers: Sequence[str], batch_key: str, now: float) -> set[str]:
        capped: set[str] = set()
        for number in numbers:
            places = self._sent.setdefault(number, {})
            for key in [k for k, at in places.items() if at <= now - WINDOW_SECONDS]:
                del places[key]
            if batch_key in places:
                continue
            if len(places) >= self._limit:
                capped.add(number)
            else:
                places[batch_key] = now
        return capped


# KEYS: one sorted set per number (member: batch key, score: time taken).
# ARGV[1] batch key, ARGV[2] now (ms), ARGV[3] window (ms), ARGV[4] limit.
# Replies the 1-based indexes of the capped keys.
_RESERVE = """
local member, now, window, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local capped = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if not redis.call('ZSCORE', key, member) then
    if redis.call('ZCARD', key) >= limit then
      capped[#capped + 1] = i
    else
      redis.call('ZADD', key, now, member)
      redis.call('PEXPIRE', key, window)
    end
  end
end
return capped
"""


class RedisFrequencyCap:
    def __init__(
        self, client: aioredis.Redis, prefix: str, limit: int, *, wait_replicas: int = 0
    ) -> None:
        self._client = client
        self._prefix = f"{prefix}freq:"
        self._limit = limit
        self._wait = wait_replicas
        self._script = client.register_script(_RESERVE)

    async def reserve(self, numbers: Sequence[str], batch_key: str, now: float) -> set[str]:
        if not numbers:
            return set()
        keys = [self._prefix + number_digest(n) for n in numbers]
        args: list[str | int] = [
            batch_key,
            int(now * 1000),
            int(WINDOW_SECONDS * 1000),
            self._limit,
        ]
        try:
            if self._wait:
                reply = await confirmed_script(self._client, self._script, keys, args, self._wait)
            else:
                reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise LedgerError(f"frequency cap failed: {type(exc).__name__}") from exc
        return {numbers[int(i) - 1] for i in reply}
