"""A request budget shared by every replica: GCRA on one Redis key, on Redis `TIME`.

GCRA keeps one number per budget, the theoretical arrival time (TAT): when the budget
would be spent if requests kept coming at exactly `rate`. A request may go once
`now >= TAT - (burst - 1) * interval`; each request pushes TAT on by one interval.
One key and one script call per request, whatever the number of replicas, and no
replica's clock is involved.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.ledger.base import LedgerError

# KEYS[1] TAT in microseconds; ARGV interval_us, tolerance_us.
# Reserves the next slot and replies the wait before it, in whole microseconds. The key
# expires when the budget is full again, so an idle limiter leaves nothing behind.
_ACQUIRE = """
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local wait = tat - tolerance - now
if wait < 0 then
  wait = 0
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1)
return string.format('%.0f', wait)
"""


class RedisRateLimiter:
    """`rate_per_second` requests on average, up to `burst` at once, across replicas."""

    def __init__(
        self, client: aioredis.Redis, key: str, rate_per_second: float, burst: int = 1
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive (no limit: no limiter)")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._key = key
        interval_us = 1_000_000 / rate_per_second
        self._args: list[Any] = [repr(interval_us), repr(interval_us * (burst - 1))]
        self._script = client.register_script(_ACQUIRE)

    async def acquire(self) -> float:
        """Reserve the next slot; return the seconds to wait before using it (0: now).

        The slot is taken even if the caller gives up, which errs on the side of sending
        less. Redis failures raise `LedgerError`; failing open or closed is the caller's call.
        """
        try:
            reply = await self._script(keys=[self._key], args=self._args)
        except (RedisError, OSError) as exc:
            raise LedgerError(f"rate limit acquire failed: {type(exc).__name__}") from exc
        return int(reply) / 1_000_000
