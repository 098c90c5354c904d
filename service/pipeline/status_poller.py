"""Delivery status from Push.R's status list, published as `status` events.

Push.R sends no callbacks: the only way to learn that a message was `delivered`, `failed`
or `partial_failed` is `GET /sms/?business=ID` with a JWT, newest first, paginated. So:

- **Tracking.** `TrackingPublisher` sees every result event as the handler publishes it;
  one with a `pushr_message_id` and outcome `sent`/`scheduled` is recorded in a
  `TrackStore` *before* it is handed to Kafka, so it is tracked before its offset can be
  committed. A crash in between redelivers the record, and the replayed result (same
  message id) is recorded then: adding is idempotent. Tracking is best effort: a store
  failure is logged and counted, never allowed to fail the record (the SMS left already).
- **Storage.** With the Redis ledger the tracked set is one Redis hash beside the ledger
  (`{ledger_key_prefix}status:tracked`, field = message id), so any replica can take over
  the polling; with the memory ledger (one replica) it lives in the process.
- **One poller.** Exactly one replica polls at a time: the holder of a Redis lease
  (`{ledger_key_prefix}status:lease`, SET NX PX, renewed by its owner before every page
  with a compare-and-PEXPIRE script). The list is per business, not per partition, so a
  partition-owner scheme would make every replica read the same pages; one leader reads
  them once and matches every tracked message. A leader that dies stops renewing and
  another replica takes over within the lease time (3 poll intervals, at least 60 s),
  from the shared hash. Two leaders for a moment (a paused process whose lease lapsed)
  can only publish the same final status twice: status events are at-least-once anyway.
- **A round.** Read the tracked set, drop what outlived `status_track_ttl_seconds`, then
  page from the newest until a page reaches the oldest tracked id (page-number pagination
  under inserts only shifts items to later pages, so none is skipped; one seen twice is
  harmless). A final status is published (keyed by event id), then untracked. Failures
  back off exponentially from the poll interval, capped; the next success resets it.
- A scheduled message stays `pending` until its time: one due later than the track TTL
  stops being polled before it is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final, Protocol

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from service.clock import Clock
from service.contract.events import build_status_event
from service.ledger.factory import redis_client
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.pipeline.publish import Publisher
from service.pushr.client import PushrClient
from service.pushr.outcomes import Outcome
from service.settings import Settings

log = get_logger(__name__)

FINAL_STATUSES: Final = frozenset({"delivered", "failed", "partial_failed"})
TRACKED_OUTCOMES: Final = frozenset({"sent", "scheduled"})
REASON: Final = "delivery_report"
# A bound on one round's paging, against a `next` chain that never ends.
MAX_PAGES: Final = 1000
MAX_BACKOFF_FACTOR: Final = 32


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


# --- where tracked messages live ---------------------------------------------------------


class TrackStore(Protocol):
    async def add(self, message: TrackedMessage) -> None:
        """Track `message` unless its id is tracked already (the first record stays)."""
        ...

    async def all(self) -> list[TrackedMessage]: ...

    async def update(self, message: TrackedMessage) -> None: ...

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


class RedisTrackStore:
    """One hash: field = Push.R message id, value = the TrackedMessage as JSON."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self._redis = redis
        self._key = key

    async def add(self, message: TrackedMessage) -> None:
        await self._redis.hsetnx(self._key, str(message.message_id), message.to_json())

    async def all(self) -> list[TrackedMessage]:
        raw: dict[Any, Any] = await self._redis.hgetall(self._key)
        return [TrackedMessage.from_json(value) for value in raw.values()]

    async def update(self, message: TrackedMessage) -> None:
        # only while still tracked: a replica that already untracked it must not revive it
        await self._redis.eval(
            _UPDATE_IF_PRESENT, 1, self._key, str(message.message_id), message.to_json()
        )

    async def remove(self, message_ids: Iterable[int]) -> None:
        fields = [str(m) for m in message_ids]
        if fields:
            await self._redis.hdel(self._key, *fields)


_UPDATE_IF_PRESENT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


# --- who polls ------------------------------------------------------------------------


class Lease(Protocol):
    async def acquire(self) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        ...

    async def release(self) -> None: ...


class LocalLease:
    """One replica (memory ledger): always the poller."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


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
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    """A lease on Redis's own expiry, so replicas' clocks never have to agree."""

    def __init__(self, redis: aioredis.Redis, key: str, owner: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._key = key
        self._owner = owner
        self._ttl_ms = max(1, int(ttl_seconds * 1000))

    async def acquire(self) -> bool:
        held = await self._redis.eval(_ACQUIRE, 1, self._key, self._owner, str(self._ttl_ms))
        return bool(held)

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self._key, self._owner)


def lease_seconds(poll_seconds: float) -> float:
    """Long enough to outlive a slow round, short enough for a quick take-over."""
    return max(3 * poll_seconds, 60.0)


# --- feeding the tracker --------------------------------------------------------------


class StatusTracker:
    def __init__(self, store: TrackStore, clock: Clock, metrics: Metrics) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics

    async def track_result(self, result: dict[str, Any]) -> None:
        message = TrackedMessage.from_result(result, self._clock.now())
        if message is None:
            return
        try:
            await self._store.add(message)
        except Exception as exc:
            self._metrics.status_track_errors.inc()
            log.warning(
                "status_track_failed", pushr_message_id=message.message_id, error=type(exc).__name__
            )


class TrackingPublisher(Publisher):
    """The handler's publisher, recording sent messages for the status poller."""

    def __init__(
        self, producer: AIOKafkaProducer, out_topic: str, dlq_topic: str, tracker: StatusTracker
    ) -> None:
        super().__init__(producer, out_topic, dlq_topic)
        self._tracker = tracker

    async def event(self, key: str, value: dict[str, Any]) -> asyncio.Future[Any]:
        await self._tracker.track_result(value)
        return await super().event(key, value)


# --- the poller -----------------------------------------------------------------------


class PollFailed(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class StatusPoller:
    def __init__(
        self,
        *,
        client: PushrClient,
        publisher: Publisher,
        store: TrackStore,
        lease: Lease,
        metrics: Metrics,
        clock: Clock,
        business: int,
        jwt: str,
        poll_seconds: float,
        track_ttl_seconds: float,
    ) -> None:
        self._client = client
        self._publisher = publisher
        self._store = store
        self._lease = lease
        self._metrics = metrics
        self._clock = clock
        self._business = business
        self._jwt = jwt
        self._interval = poll_seconds
        self._ttl = track_ttl_seconds
        self._failures = 0
        self._leader = False

    async def run(self) -> None:
        """Poll until cancelled."""
        try:
            while True:
                await self._clock.sleep(await self.round())
        finally:
            if self._leader:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._lease.release())

    async def round(self) -> float:
        """One round (if this replica is the poller); returns the seconds to the next."""
        try:
            if not await self._hold_lease():
                self._metrics.status_polls.labels("not_leader").inc()
                self._metrics.status_tracked.set(0)
                return self._interval
            await self.poll_once()
        except PollFailed as failed:
            return self._failed(failed.kind, failed.detail)
        except Exception as exc:
            # Redis or Kafka trouble, a malformed page: the next round may fare better
            return self._failed("error", type(exc).__name__)
        self._failures = 0
        self._metrics.status_polls.labels("ok").inc()
        self._metrics.status_last_poll.set(self._clock.now())
        return self._interval

    def _failed(self, kind: str, detail: str) -> float:
        self._failures += 1
        self._metrics.status_polls.labels(kind).inc()
        delay = self._interval * float(min(1 << (self._failures - 1), MAX_BACKOFF_FACTOR))
        log.warning(
            "status_poll_failed",
            kind=kind,
            detail=detail,
            failures=self._failures,
            retry_in=round(delay, 3),
        )
        return delay

    async def _hold_lease(self) -> bool:
        held = await self._lease.acquire()
        if held != self._leader:
            log.info("status_poller_lease", held=held)
        self._leader = held
        self._metrics.status_poller_leader.set(1 if held else 0)
        return held

    async def poll_once(self) -> None:
        now = self._clock.now()
        tracked: dict[int, TrackedMessage] = {}
        expired: list[int] = []
        for message in await self._store.all():
            if now - message.tracked_at > self._ttl:
                expired.append(message.message_id)
            else:
                tracked[message.message_id] = message
        if expired:
            await self._store.remove(expired)
            self._metrics.status_untracked.labels("expired").inc(len(expired))
            log.info("status_tracking_expired", messages=len(expired))
        self._metrics.status_tracked.set(len(tracked))
        if not tracked:
            return
        oldest = min(tracked)
        url: str | None = None
        for page in range(MAX_PAGES):
            if page and not await self._hold_lease():
                return  # another replica took over mid-round; it reads the rest
            items, url = await self._page(url)
            for item in items:
                seen = tracked.get(item["id"])
                if seen is not None and item["status"] != seen.last_status:
                    await self._changed(seen, item["status"])
                    if item["status"] in FINAL_STATUSES:
                        tracked.pop(seen.message_id, None)
            # newest first: a page reaching the oldest tracked id is the last one needed
            if url is None or not items or min(i["id"] for i in items) <= oldest:
                break
        self._metrics.status_tracked.set(len(tracked))

    async def _page(self, url: str | None) -> tuple[list[dict[str, Any]], str | None]:
        result = await self._client.list_messages(business=self._business, jwt=self._jwt, url=url)
        if result.outcome is Outcome.UNAUTHORIZED:
            raise PollFailed("unauthorized", result.detail or "status list refused the JWT")
        if result.outcome is not Outcome.ACCEPTED or result.body is None:
            raise PollFailed("error", result.detail or str(result.outcome))
        self._metrics.status_poll_pages.inc()
        data = result.body.get("data")
        if not isinstance(data, list):
            raise PollFailed("error", "status list page without a data list")
        items = [
            {"id": item["id"], "status": item["status"]}
            for item in data
            if isinstance(item, dict)
            and isinstance(item.get("id"), int)
            and isinstance(item.get("status"), str)
        ]
        following = result.body.get("next")
        return items, following if isinstance(following, str) and following else None

    async def _changed(self, message: TrackedMessage, status: str) -> None:
        if status not in FINAL_STATUSES:
            # pending -> sent: nothing new for consumers (the relay said `sent` already)
            await self._store.update(_with_status(message, status))
            return
        event = build_status_event(
            event_id=message.event_id,
            idempotency_key=message.idempotency_key,
            status=status,  # type: ignore[arg-type]  # checked against FINAL_STATUSES
            at=self._clock.now(),
            reason=REASON,
            detail=f"Push.R message {message.message_id} "
            f"(batch {message.batch_index + 1} of {message.batch_count}): {status}",
            pushr_message_ids=[message.message_id],
            metadata=message.metadata,
        )
        ack = await self._publisher.event(message.event_id, event)
        await ack
        # untracked only once Kafka has it: a crash in between publishes it again, not never
        await self._store.remove([message.message_id])
        self._metrics.delivery_reports.labels(status).inc()
        self._metrics.status_published.labels(status).inc()
        self._metrics.status_untracked.labels("final").inc()
        log.info(
            "delivery_status",
            event_id=message.event_id,
            pushr_message_id=message.message_id,
            status=status,
        )


def _with_status(message: TrackedMessage, status: str) -> TrackedMessage:
    return TrackedMessage(**{**asdict(message), "last_status": status})


# --- composition ----------------------------------------------------------------------


class StatusPolling:
    """The poller's parts and lifetime, for the composition root (`service.app`).

    `from_settings` answers None unless `pushr_jwt` and `pushr_business_id` are set.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: TrackStore,
        lease: Lease,
        metrics: Metrics,
        clock: Clock,
        redis: aioredis.Redis | None = None,
    ) -> None:
        self._settings = settings
        self.store = store
        self.lease = lease
        self._metrics = metrics
        self._clock = clock
        self._redis = redis
        self.tracker = StatusTracker(store, clock, metrics)
        self.poller: StatusPoller | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, metrics: Metrics, clock: Clock, owner: str
    ) -> StatusPolling | None:
        if settings.pushr_jwt is None:
            return None
        if settings.pushr_business_id is None:
            # the list is per business: a JWT alone cannot say whose messages to read
            log.warning("status_poller_disabled", reason="pushr_business_id is not set")
            return None
        if settings.ledger_backend == "redis" and settings.redis_configured():
            redis = redis_client(settings, client_name=f"{settings.client_id}-status")
            prefix = settings.ledger_key_prefix
            return cls(
                settings,
                store=RedisTrackStore(redis, f"{prefix}status:tracked"),
                lease=RedisLease(
                    redis,
                    f"{prefix}status:lease",
                    owner,
                    lease_seconds(settings.status_poll_seconds),
                ),
                metrics=metrics,
                clock=clock,
                redis=redis,
            )
        return cls(
            settings, store=MemoryTrackStore(), lease=LocalLease(), metrics=metrics, clock=clock
        )

    def publisher(self, producer: AIOKafkaProducer) -> TrackingPublisher:
        s = self._settings
        return TrackingPublisher(producer, s.out_topic, s.dlq_topic, self.tracker)

    def start(self, client: PushrClient, publisher: Publisher) -> None:
        s = self._settings
        assert s.pushr_jwt is not None
        assert s.pushr_business_id is not None
        self.poller = StatusPoller(
            client=client,
            publisher=publisher,
            store=self.store,
            lease=self.lease,
            metrics=self._metrics,
            clock=self._clock,
            business=s.pushr_business_id,
            jwt=s.pushr_jwt.get_secret_value(),
            poll_seconds=s.status_poll_seconds,
            track_ttl_seconds=s.status_track_ttl_seconds,
        )
        self._task = asyncio.create_task(self.poller.run(), name="status-poller")
        log.info("status_poller_started", interval=s.status_poll_seconds)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                # a crashed poller must not turn a clean shutdown into a failed one
                log.exception("status_poller_crashed")

    async def close(self) -> None:
        await self.stop()
        if self._redis is not None:
            await self._redis.aclose()
