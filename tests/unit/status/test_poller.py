"""The delivery-status poller over httpx.MockTransport with a ManualClock: tracking from
result events, paging newest first until the oldest tracked id, one status event per final
change, TTL expiry, backoff on errors, and the lease deciding who polls."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from service.builders import Core
from service.clock import ManualClock
from service.contract.schemas import STATUS, schema_errors
from service.ledger.lease import LocalLease
from service.observability.health import Health
from service.observability.metrics import Metrics
from service.pushr.breaker import BreakerSet
from service.pushr.client import PushrClient
from service.pushr.credentials import StaticToken
from service.pushr.ratelimit import RateLimiter
from service.settings import Settings
from service.status.builders import build_status_store, status_polling_enabled
from service.status.list_reader import MessageListReader
from service.status.poller import StatusPoller
from service.status.tracked import MemoryTrackStore, TrackedMessage
from service.status.tracking import StatusTracker, TrackingPublisher
from tests.fixtures.metrics import sample_value
from tests.unit.jitter import TopOfRange

BASE = "http://pushr.test/api/client"
JWT = "eyJhbGciOiJIUzI1NiJ9.test-token-value.signature"
INTERVAL = 30.0
TTL = 3600.0


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pushr_base_url": BASE,
        "pushr_api_key_public": SecretStr("pk_unit"),
        "pushr_api_key_secret": SecretStr("sk_unit_secret"),
        "pushr_business_id": 7,
        "pushr_jwt": SecretStr(JWT),
        "retry_max_attempts": 1,  # the poller's own backoff is under test, not the client's
        "status_poll_seconds": INTERVAL,
        "status_track_ttl_seconds": int(TTL),
        **overrides,
    }
    return Settings.model_validate(values)


class FakeProducer:
    """Stands in for AIOKafkaProducer: records sends, acknowledges at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None
    ) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@dataclass
class ListApi:
    """Push.R's status list: `messages` (id -> status), newest first, `page_size` a page."""

    messages: dict[int, str] = field(default_factory=dict)
    page_size: int = 5
    fail_with: list[int] = field(default_factory=list)  # statuses to answer first
    next_link: str | None = None  # replaces every page's `next`
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.fail_with:
            return httpx.Response(self.fail_with.pop(0), json={"detail": "nope"})
        query = parse_qs(request.url.query.decode())
        page = int(query.get("page", ["1"])[0])
        ids = sorted(self.messages, reverse=True)
        chunk = ids[(page - 1) * self.page_size : page * self.page_size]
        more = page * self.page_size < len(ids)
        return httpx.Response(
            200,
            json={
                "data": [{"id": i, "status": self.messages[i], "message": "x"} for i in chunk],
                "count": len(ids),
                "next": self.next_link
                or (f"{BASE}/sms/?business=7&page={page + 1}" if more else None),
                "previous": None,
            },
        )

    def pages_read(self) -> list[int]:
        return [int(parse_qs(r.url.query.decode()).get("page", ["1"])[0]) for r in self.seen]


class FixedLease:
    def __init__(self, held: bool) -> None:
        self.held = held
        self.released = False

    async def acquire(self) -> bool:
        return self.held

    async def release(self) -> None:
        self.released = True


@dataclass
class Rig:
    poller: StatusPoller
    store: MemoryTrackStore
    tracker: StatusTracker
    api: ListApi
    producer: FakeProducer
    clock: ManualClock
    registry: CollectorRegistry
    lease: FixedLease

    def published(self) -> list[dict[str, Any]]:
        return [orjson.loads(value) for _topic, _key, value in self.producer.sent]

    def metric(self, name: str, **labels: str) -> float:
        return sample_value(self.registry, name, labels)


@pytest.fixture
def rig() -> Rig:
    clock = ManualClock()
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    s = settings()
    api = ListApi()
    http = httpx.AsyncClient(transport=httpx.MockTransport(api))
    client = PushrClient(
        http,
        s,
        clock=clock,
        rng=random.Random(1),
        breakers=BreakerSet.from_settings(s, clock),
        limiter=RateLimiter.from_settings(s, clock),
    )
    producer = FakeProducer()
    store = MemoryTrackStore()
    tracker = StatusTracker(store, clock, metrics)
    publisher = TrackingPublisher(producer, "out", "dlq", tracker)
    lease = FixedLease(held=True)
    poller = StatusPoller(
        reader=MessageListReader(client, business=7, credentials=StaticToken(SecretStr(JWT))),
        publisher=publisher,
        store=store,
        lease=lease,
        metrics=metrics,
        clock=clock,
        rng=TopOfRange(),
        poll_seconds=INTERVAL,
        track_ttl_seconds=TTL,
    )
    return Rig(poller, store, tracker, api, producer, clock, registry, lease)


def result_event(message_id: int | None, outcome: str = "sent", **extra: Any) -> dict[str, Any]:
    return {
        "type": "result",
        "event_id": f"evt-{message_id}",
        "idempotency_key": None,
        "batch_index": 0,
        "batch_count": 1,
        "outcome": outcome,
        "pushr_message_id": message_id,
        "pushr_status": "sent",
        "metadata": {"order": 42},
        **extra,
    }


async def track(rig: Rig, *ids: int) -> None:
    for message_id in ids:
        await rig.tracker.track_result(result_event(message_id))


# --- tracking -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "tracked"),
    [
        (result_event(5), True),
        (result_event(5, outcome="scheduled"), True),
        (result_event(5, outcome="rejected"), False),
        (result_event(5, outcome="unknown"), False),
        (result_event(None), False),
        ({**result_event(5), "type": "status"}, False),
    ],
)
def test_only_sent_results_with_a_message_id_are_tracked(
    event: dict[str, Any], tracked: bool
) -> None:
    assert (TrackedMessage.from_result(event, 1.0) is not None) is tracked


async def test_publisher_tracks_before_handing_the_result_to_kafka(rig: Rig) -> None:
    publisher = rig.poller._publisher
    ack = await publisher.event("evt-5", result_event(5))
    await ack
    assert [m.message_id for m in await rig.store.all()] == [5]
    assert len(rig.producer.sent) == 1
    # a replayed result (redelivery) tracks the same message once
    await publisher.event("evt-5", {**result_event(5), "replayed": True})
    assert len(await rig.store.all()) == 1


async def test_a_failing_store_never_fails_the_publish(rig: Rig) -> None:
    class Broken(MemoryTrackStore):
        async def add(self, message: TrackedMessage) -> None:
            raise ConnectionError("redis down")

    metrics = Metrics(CollectorRegistry())
    tracker = StatusTracker(Broken(), rig.clock, metrics)
    await tracker.track_result(result_event(5))
    assert metrics.status_track_errors._value.get() == 1


# --- polling --------------------------------------------------------------------------


async def test_nothing_tracked_means_no_request(rig: Rig) -> None:
    assert await rig.poller.round() == INTERVAL
    assert rig.api.seen == []
    assert rig.metric("pushr_relay_status_polls_total", outcome="ok") == 1


async def test_pages_until_the_oldest_tracked_id_and_publishes_final_changes(rig: Rig) -> None:
    rig.api.messages = {i: "sent" for i in range(1, 13)}
    rig.api.messages[5] = "delivered"
    await track(rig, 5, 6)

    assert await rig.poller.round() == INTERVAL

    # ids 12..8 on page 1, 7..3 on page 2 (holds 5, the oldest tracked); page 3 not needed
    assert rig.api.pages_read() == [1, 2]
    request = rig.api.seen[0]
    assert request.headers["authorization"] == f"Bearer {JWT}"
    assert request.url.params["business"] == "7"
    (event,) = rig.published()
    assert schema_errors(STATUS, event) == []
    assert event["status"] == "delivered"
    assert event["event_id"] == "evt-5"
    assert event["pushr_message_ids"] == [5]
    assert event["reason"] == "delivery_report"
    assert event["metadata"] == {"order": 42}
    assert [m.message_id for m in await rig.store.all()] == [6]
    assert rig.metric("pushr_relay_delivery_reports_total", status="delivered") == 1
    assert rig.metric("pushr_relay_status_tracked_messages") == 1


async def test_each_final_status_is_published_once(rig: Rig) -> None:
    rig.api.messages = {1: "pending", 2: "pending"}
    await track(rig, 1, 2)
    await rig.poller.round()
    assert rig.published() == []  # pending -> nothing new for consumers

    rig.api.messages = {1: "failed", 2: "partial_failed"}
    await rig.poller.round()
    assert sorted(e["status"] for e in rig.published()) == ["failed", "partial_failed"]
    assert all(schema_errors(STATUS, e) == [] for e in rig.published())
    assert await rig.store.all() == []

    await rig.poller.round()
    assert len(rig.published()) == 2
    assert len(rig.api.seen) == 2  # nothing left to poll: no request


async def test_a_pending_to_sent_change_is_remembered_not_published(rig: Rig) -> None:
    rig.api.messages = {1: "sent"}
    await rig.tracker.track_result(result_event(1, pushr_status="pending"))
    await rig.poller.round()
    assert rig.published() == []
    (message,) = await rig.store.all()
    assert message.last_status == "sent"


async def test_tracking_stops_after_the_ttl(rig: Rig) -> None:
    rig.api.messages = {1: "sent"}
    await track(rig, 1)
    rig.clock.advance(TTL + 1)
    await rig.poller.round()
    assert await rig.store.all() == []
    assert rig.api.seen == []
    assert rig.metric("pushr_relay_status_untracked_total", reason="expired") == 1


async def test_errors_back_off_exponentially_then_reset(rig: Rig) -> None:
    rig.api.messages = {1: "sent"}
    await track(rig, 1)
    rig.api.fail_with = [500, 503, 502]
    delays = [await rig.poller.round() for _ in range(4)]
    assert delays == [INTERVAL, 2 * INTERVAL, 4 * INTERVAL, INTERVAL]
    assert rig.metric("pushr_relay_status_polls_total", outcome="error") == 3


async def test_backoff_is_capped(rig: Rig) -> None:
    await track(rig, 1)
    rig.api.fail_with = [500] * 20
    delays = [await rig.poller.round() for _ in range(10)]
    assert max(delays) == 32 * INTERVAL


async def test_a_rejected_jwt_counts_as_unauthorized_and_backs_off(rig: Rig) -> None:
    await track(rig, 1)
    rig.api.fail_with = [401]
    assert await rig.poller.round() == INTERVAL
    assert rig.metric("pushr_relay_status_polls_total", outcome="unauthorized") == 1
    assert [m.message_id for m in await rig.store.all()] == [1]
    assert len(rig.api.seen) == 1  # a static token has nothing newer: not sent again


async def test_only_the_lease_holder_polls(rig: Rig) -> None:
    rig.api.messages = {1: "delivered"}
    await track(rig, 1)
    rig.lease.held = False
    await rig.poller.round()
    assert rig.api.seen == []
    assert rig.metric("pushr_relay_status_polls_total", outcome="not_leader") == 1
    assert rig.metric("pushr_relay_status_poller_leader") == 0

    rig.lease.held = True
    await rig.poller.round()
    assert [e["status"] for e in rig.published()] == ["delivered"]
    assert rig.metric("pushr_relay_status_poller_leader") == 1


async def test_a_next_link_to_another_origin_is_refused(rig: Rig) -> None:
    rig.api.messages = {9: "sent", 1: "sent"}
    rig.api.page_size = 1
    rig.api.next_link = "http://evil.test/steal"
    await track(rig, 1)
    await rig.poller.round()
    assert len(rig.api.seen) == 1  # the token never went to evil.test
    assert rig.metric("pushr_relay_status_polls_total", outcome="error") == 1


async def test_run_sleeps_the_interval_between_rounds(rig: Rig) -> None:
    task = asyncio.create_task(rig.poller.run())
    for _ in range(50):
        if len(rig.clock.slept) >= 3:
            break
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.clock.slept[:3] == [INTERVAL] * 3
    assert rig.lease.released


# --- composition ----------------------------------------------------------------------


def test_polling_is_off_without_a_jwt_or_a_business(tmp_path) -> None:
    assert not status_polling_enabled(settings(pushr_jwt=None))
    assert not status_polling_enabled(settings(pushr_business_id=None))
    assert status_polling_enabled(settings())
    token_file = tmp_path / "jwt"
    assert status_polling_enabled(settings(pushr_jwt=None, pushr_jwt_file=token_file))
    login = {"pushr_username": "relay", "pushr_password": SecretStr("pw-secret")}
    assert status_polling_enabled(settings(pushr_jwt=None, **login))


def test_without_redis_the_tracked_set_lives_in_the_process() -> None:
    clock = ManualClock()
    core = Core(settings(), clock, random.Random(), Metrics(CollectorRegistry()),
                Health(clock=clock, stall_seconds=60), "owner-a")  # fmt: skip
    store, lease, _tracker = build_status_store(core, None)
    assert isinstance(store, MemoryTrackStore)
    assert isinstance(lease, LocalLease)


async def test_a_jittered_wait_is_never_shorter_than_the_interval(rig: Rig) -> None:
    rig.poller._backoff._rng = random.Random(7)
    await track(rig, 1)
    rig.api.fail_with = [500] * 6
    delays = [await rig.poller.round() for _ in range(6)]
    assert all(INTERVAL <= d <= INTERVAL * 2**n for n, d in enumerate(delays))
    assert len(set(delays)) > 1  # jittered, not a fixed ladder
