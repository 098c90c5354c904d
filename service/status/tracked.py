"""Push.R messages whose delivery status is awaited, and where they are kept.

With the Redis ledger the tracked set is one Redis hash beside the ledger
(`{ledger_key_prefix}status:tracked`, field = message id), so any replica can take over the
polling; with the memory ledger (one replica) it lives in the process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Protocol

import orjson
import redis.asyncio as aioredis

TRACKED_OUTCOMES: Final = frozenset({"sent", "scheduled"})


@dataclass(frozen=True, slots=True)
class TrackedMessage:
    message_id: int
    event_id: str
    idempotency_key: str | None
    batch_index: int
    batch_count: int
    tracked_at: float  # epoch seconds (a wall clock: replicas compare it)
    metadata: dict[str, Any] | None = None
    last_status: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    def with_status(self, status: str) -> TrackedMessage:
        return replace(self, last_status=status)

    @classmethod
    def from_json(cls, raw: bytes | str) -> TrackedMessage:
        data = orjson.loads(raw)
        return cls(
            message_id=int(data["message_id"]),
            event_id=str(data["event_id"]),
            idempotency_key=data.get("idempotency_key"),
            batch_index=int(data.get("batch_index", 0)),
            batch_count=int(data.get("batch_count", 1)),
            tracked_at=float(data["tracked_at"]),
            metadata=data.get("metadata"),
            last_status=data.get("last_status"),
        )

    @classmethod
    def from_result(cls, result: dict[str, Any], now: float) -> TrackedMessage | None:
        """The message to track for a result event, None when there is nothing to poll."""
        message_id = result.get("pushr_message_id")
        if result.get("type") != "result" or not isinstance(message_id, int):
            return None
        if result.get("outcome") not in TRACKED_OUTCOMES:
            return None
        metadata = result.get("metadata")
        return cls(
            message_id=message_id,
            event_id=str(result["event_id"]),
            idempotency_key=result.get("idempotency_key"),
            batch_index=int(result.get("batch_index", 0)),
            batch_count=int(result.get("batch_count", 1)),
            tracked_at=now,
            metadata=metadata if isinstance(metadata, dict) else None,
            last_status=result.get("pushr_status"),
        )


class TrackStore(Protocol):
    async def add(self, message: TrackedMessage) -> None:
        """Track `message` unless its id is tracked already (the first record stays)."""
        ...

    async def all(self) -> list[TrackedMessage]: ...

    async def update(self, message: TrackedMessage) -> None:
        """Replace a tracked message; a message no longer tracked stays untracked."""
        ...

    async def remove(self, message_ids: Iterable[int]) -> None: ...


class MemoryTrackStore:
    def __init__(self) -> None:
        self._messages: dict[int, TrackedMessage] = {}

    async def add(self, message: TrackedMessage) -> None:
        self._messages.setdefault(message.message_id, message)

    async def all(self) -> list[TrackedMessage]:
        return list(self._messages.values())

    async def update(self, message: TrackedMessage) -> None:
        if message.message_id in self._messages:
            self._messages[message.message_id] = message

    async def remove(self, message_ids: Iterable[int]) -> None:
        for message_id in message_ids:
            self._messages.pop(message_id, None)


# KEYS[1] hash; ARGV field, value: only while still tracked, so a replica that already
# untracked the message does not revive it.
_UPDATE_IF_PRESENT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


class RedisTrackStore:
    """One hash: field = Push.R message id, value = the TrackedMessage as JSON."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self._redis = redis
        self._key = key
        self._update = redis.register_script(_UPDATE_IF_PRESENT)

    async def add(self, message: TrackedMessage) -> None:
        await self._redis.hsetnx(self._key, str(message.message_id), message.to_json())

    async def all(self) -> list[TrackedMessage]:
        raw: dict[Any, Any] = await self._redis.hgetall(self._key)
        return [TrackedMessage.from_json(value) for value in raw.values()]

    async def update(self, message: TrackedMessage) -> None:
        await self._update(keys=[self._key], args=[str(message.message_id), message.to_json()])

    async def remove(self, message_ids: Iterable[int]) -> None:
        fields = [str(m) for m in message_ids]
        if fields:
            await self._redis.hdel(self._key, *fields)
