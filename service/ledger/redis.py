"""The shared ledger: one Redis hash per batch, changed only by Lua scripts.

A batch key `K` lives at `{prefix}K` as a hash:

    s  state: claimed | sent | rejected | unknown
    o  owner of the claim (kept once final: it is who completed it)
    l  lease end, Redis server time in integer milliseconds
    r  the result (orjson bytes), final entries only
    c  claim time, Redis server time in integer milliseconds (the request window's start)
    g  the claim's signature, while it is an open claim of a reconciling relay

Leases run on Redis `TIME`, never on a replica's clock: replicas whose clocks disagree
still agree on whether a lease has lapsed. Every check-then-write happens inside one
script (`service.ledger.redis_scripts`), so no two replicas can both win a claim. Every
Redis failure surfaces as `LedgerError` (the engine stops sending until the ledger answers again).

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
from service.ledger.redis_reconcile import RedisReconciliation
from service.ledger.redis_scripts import CLAIM, COMPLETE, RELEASE, RENEW
from service.ledger.redis_wait import confirmed_script, replicas_connected

_T = TypeVar("_T")


class OutageWatch(Protocol):
    """Told of every failure and success (see `service.ledger.redis_health.OutageLog`)."""

    def failed(self, exc: BaseException) -> None: ...

    def answered(self) -> None: ...


class RedisLedger(RedisReconciliation):
    """`Ledger` on Redis, shared by every replica that uses the same `prefix`; with
    `reconcile`, also a `ReconcilingLedger` (`service.ledger.redis_reconcile`)."""

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
        reconcile: bool = False,
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
        self._claim = client.register_script(CLAIM)
        self._complete = client.register_script(COMPLETE)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        super().__init__(client, prefix, reconcile=reconcile)

    async def claim(self, key: str, owner: str, lease_seconds: float) -> Claim:
        return await self._claim_signed(key, owner, lease_seconds, "")

    async def _claim_signed(
        self, key: str, owner: str, lease_seconds: float, signature: str
    ) -> Claim:
        lease_ms = _lease_ms(lease_seconds)
        reply = await self._write(
            "claim",
            self._claim,
            [self._prefix + key, self._open_key],
            [owner, lease_ms, max(self._ttl_ms, lease_ms), signature],
        )
        status, state, holder, lease, result, claimed = (_text(v or b"") for v in reply[:6])
        entry = _entry(key, state, holder, lease, result or None, claimed or None)
        return Claim(ClaimStatus(status), entry)

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
            [self._prefix + key, self._open_key, self._attributed_key],
            [owner, state.value, payload, self._ttl_ms, self._attribution(result)],
        )
        return int(reply) == 1

    async def release(self, key: str, owner: str) -> bool:
        reply = await self._write(
            "release", self._release, [self._prefix + key, self._open_key], [owner]
        )
        return int(reply) == 1

    async def get(self, key: str) -> LedgerEntry | None:
        state, holder, lease, result, claimed = await self._call(
            "get", self._client.hmget(self._prefix + key, ["s", "o", "l", "r", "c"])
        )
        if state is None:
            return None
        return _entry(
            key,
            _text(state),
            _text(holder or b""),
            _text(lease or b"0"),
            result,
            None if claimed is None else _text(claimed),
        )

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


def _entry(  # noqa: PLR0917 - one positional field per hash field, in the hash's order
    key: str,
    state: str,
    owner: str,
    lease_ms: str,
    result: bytes | str | None,
    claimed_ms: str | None,
) -> LedgerEntry:
    lease_until = int(lease_ms or "0") / 1000
    return LedgerEntry(
        key=key,
        state=BatchState(state),
        owner=owner,
        lease_until=lease_until,
        result=None if result is None else orjson.loads(result),
        claimed_at=None if claimed_ms is None else int(claimed_ms) / 1000,
        lease_end=lease_until,
    )
