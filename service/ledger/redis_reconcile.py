"""What the Redis ledger keeps for reconciliation (see `service.ledger.pending`), beside it.

Under the ledger's prefix `P`:

    P{batch key}                    the batch's hash; also `c` (claim time, ms of Redis TIME)
                                    and `g` (the claim's signature, while open)
    Preconcile:open                 sorted set: batch key by claim time, claims still open
    Preconcile:attributed           sorted set: Push.R id by when it was recorded
    Preconcile:pending              sorted set: batch key by hand-over time
    Preconcile:batch:{batch key}    hash: d (context JSON), ws / we (window, ms), st (state),
                                    v (verdict), n (generation), at (hand-over time, ms)

Batch keys always contain `#`, so they never meet these names. Every check-then-write is one
script, confirmed by replicas like every ledger write (`wait_replicas`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Sequence
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from service.ledger.base import Claim
from service.ledger.pending import (
    Decision,
    OpenClaim,
    PendingContext,
    PendingRecord,
    PendingState,
    Signature,
    Verdict,
)
from service.ledger.redis_scripts import DECIDE, FINISH, HAND_OVER

_T = TypeVar("_T")


class RedisReconciliation:
    """Mixed into `RedisLedger`: the reconciliation half of `ReconcilingLedger`."""

    _ttl_ms: int

    def __init__(self, client: aioredis.Redis, prefix: str, *, reconcile: bool) -> None:
        self._reconcile = reconcile
        self._rc_client = client
        self._rc_prefix = prefix
        self._open_key = f"{prefix}reconcile:open"
        self._attributed_key = f"{prefix}reconcile:attributed"
        self._pending_key = f"{prefix}reconcile:pending"
        self._hand_over = client.register_script(HAND_OVER)
        self._decide = client.register_script(DECIDE)
        self._finish = client.register_script(FINISH)

    # --- provided by RedisLedger ----------------------------------------------------------
    async def _write(
        self, op: str, script: AsyncScript, keys: list[str], args: Sequence[Any]
    ) -> Any:
        raise NotImplementedError

    async def _call(self, op: str, pending: Awaitable[_T]) -> _T:
        raise NotImplementedError

    async def _claim_signed(
        self, key: str, owner: str, lease_seconds: float, signature: str
    ) -> Claim:
        raise NotImplementedError

    def _attribution(self, result: dict[str, Any]) -> str:
        """The Push.R id `complete` attributes ('' for none)."""
        message_id = result.get("pushr_message_id")
        return str(message_id) if self._reconcile and isinstance(message_id, int) else ""

    def _record_key(self, key: str) -> str:
        return f"{self._rc_prefix}reconcile:batch:{key}"

    # --- ReconcilingLedger ----------------------------------------------------------------
    async def claim_open(
        self, key: str, owner: str, lease_seconds: float, signature: Signature
    ) -> Claim:
        return await self._claim_signed(key, owner, lease_seconds, signature.encode())

    async def hand_over(
        self,
        key: str,
        owner: str,
        result: dict[str, Any],
        context: PendingContext,
        *,
        window: tuple[float, float] | None,
        deadline_seconds: float,
    ) -> bool:
        start, end = ("", "") if window is None else (_ms(window[0]), _ms(window[1]))
        reply = await self._write(
            "hand_over",
            self._hand_over,
            [self._rc_prefix + key, self._open_key, self._pending_key, self._record_key(key)],
            [
                owner,
                orjson.dumps(result),
                context.to_json(),
                start,
                end,
                _ms(deadline_seconds),
                self._ttl_ms,
                key,
            ],
        )
        return int(reply) == 1

    async def now(self) -> float:
        seconds, micros = await self._call("time", self._rc_client.time())
        return int(seconds) + int(micros) / 1_000_000

    async def pending(self) -> list[PendingRecord]:
        members: list[bytes] = await self._call(
            "pending",
            self._rc_client.zrange(self._pending_key, 0, -1),  # type: ignore[arg-type]
        )
        keys = [_text(k) for k in members]
        if not keys:
            return []
        async with self._rc_client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(self._record_key(key))
            rows = await self._call("pending", pipe.execute())
        records, gone = [], []
        for key, row in zip(keys, rows, strict=True):
            record = _record(key, {_text(k): v for k, v in row.items()})
            if record is None:
                gone.append(key)  # expired with the ledger's TTL
            else:
                records.append(record)
        if gone:
            await self._call("pending", self._rc_client.zrem(self._pending_key, *gone))
        return records

    async def open_claims(self, claimed_before: float) -> list[OpenClaim]:
        members: list[bytes] = await self._call(
            "open_claims",
            self._rc_client.zrangebyscore(  # type: ignore[arg-type]
                self._open_key, "-inf", _ms(claimed_before)
            ),
        )
        keys = [_text(k) for k in members]
        if not keys:
            return []
        async with self._rc_client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, ["s", "c", "l", "g"])
            rows = await self._call("open_claims", pipe.execute())
        found, stale = [], []
        for key, (state, claimed, lease, signature) in zip(keys, rows, strict=True):
            decoded = Signature.decode(_text(signature)) if signature else None
            if state != b"claimed" or decoded is None or claimed is None:
                stale.append(key)  # expired behind the index's back
                continue
            lease_end = int(lease or claimed) / 1000
            unprefixed = key.removeprefix(self._rc_prefix)
            found.append(OpenClaim(unprefixed, int(claimed) / 1000, lease_end, decoded))
        if stale:
            await self._call("open_claims", self._rc_client.zrem(self._open_key, *stale))
        return found

    async def attributed(self, message_ids: Collection[int]) -> set[int]:
        ids = sorted(set(message_ids))
        if not ids:
            return set()
        scores = await self._call(
            "attributed",
            self._rc_client.zmscore(self._attributed_key, [str(i) for i in ids]),
        )
        return {i for i, score in zip(ids, scores, strict=True) if score is not None}

    async def decide(self, decisions: Sequence[Decision], attribute: Collection[int]) -> bool:
        keys = [self._attributed_key]
        args: list[Any] = [self._ttl_ms, len(decisions)]
        for d in decisions:
            keys += [self._rc_prefix + d.key, self._record_key(d.key)]
            final = "" if d.final is None else d.final.value
            result = b"" if d.result is None else orjson.dumps(d.result)
            args += [str(d.generation), d.verdict.value, final, result]
        args += [str(i) for i in sorted(set(attribute))]
        return int(await self._write("decide", self._decide, keys, args)) == 1

    async def finish(self, key: str, generation: int) -> None:
        await self._write(
            "finish",
            self._finish,
            [self._record_key(key), self._pending_key],
            [str(generation), key],
        )

    async def prune_attributed(self, before: float) -> None:
        await self._call(
            "prune",
            self._rc_client.zremrangebyscore(self._attributed_key, "-inf", f"({_ms(before)}"),
        )


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(key: str, row: dict[str, bytes]) -> PendingRecord | None:
    if "d" not in row or "st" not in row:
        return None
    verdict = row.get("v")
    return PendingRecord(
        key=key,
        context=PendingContext.from_json(row["d"]),
        window_start=int(row["ws"]) / 1000,
        window_end=int(row["we"]) / 1000,
        state=PendingState(_text(row["st"])),
        verdict=None if verdict is None else Verdict(_text(verdict)),
        generation=int(row.get("n", b"0")),
        registered_at=int(row.get("at", b"0")) / 1000,
    )
