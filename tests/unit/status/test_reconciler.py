"""The reconciler end to end behind the seams (ManualClock, httpx.MockTransport, the memory
ledger): the handler hands an ambiguous batch over, the status poller's round reads the
list once for both, and the verdict becomes events, or the one send it calls for."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from service.builders import Core, build_deliverer, build_handler
from service.clock import ManualClock
from service.contract import REJECTION_REASONS
from service.contract.schemas import RESULT, STATUS, schema_errors
from service.ledger.base import BatchState
from service.ledger.lease import LocalLease
from service.ledger.memory import MemoryLedger
from service.ledger.pending import Signature
from service.observability.health import Health
from service.observability.metrics import Metrics
from service.pipeline.handle import RecordHandler
from service.pushr.breaker import BreakerSet
from service.pushr.client import PushrClient
from service.pushr.credentials import StaticToken
from service.pushr.ratelimit import RateLimiter
from service.settings import Settings
from service.status.builders import build_reconciler
from service.status.list_reader import MessageListReader
from service.status.poller import StatusPoller
from service.status.reconciler import Reconciler
from service.status.tracked import MemoryTrackStore
from service.status.tracking import StatusTracker, TrackingPublisher
from tests.fixtures.metrics import sample_value
from tests.unit.status.fake_pushr import BASE, FakePushr
from tests.unit.status.test_poller import FakeProducer, FixedLease

SETTLE = 20.0
SKEW = 2.0
OTP = "Your code is 4821"


def settings(**overrides: Any) -> Settings:
    return Settings.model_validate(
        {
            "pushr_base_url": BASE,
            "pushr_api_key_public": SecretStr("pk_unit"),
            "pushr_api_key_secret": SecretStr("sk_unit_secret"),
            "pushr_business_id": 7,
            "pushr_jwt": SecretStr("eyJ.unit.jwt"),
            "retry_max_attempts": 1,
            "http_read_timeout": 3.0,
            "http_connect_timeout": 1.0,
            "http_write_timeout": 1.0,
            "http_pool_timeout": 1.0,
            "reconcile_settle_seconds": SETTLE,
            "reconcile_clock_skew_seconds": SKEW,
            "ledger_lease_seconds": 30.0,
            **overrides,
        }
    )


@dataclass
class Rig:
    clock: ManualClock
    pushr: FakePushr
    ledger: MemoryLedger
    handler: RecordHandler
    poller: StatusPoller
    reconciler: Reconciler
    producer: FakeProducer
    registry: CollectorRegistry
    offsets: int = 0

    async def handle(self, **event: Any) -> str:
        body = {"event_id": f"evt-{self.offsets}", **event}
        if "template" not in body:
            body.setdefault("message", OTP)
            body.setdefault("recipients", ["0241000001"])
        self.offsets += 1
        record = SimpleNamespace(
            topic="in", partition=0, offset=self.offsets, value=orjson.dumps(body), timestamp=None
        )
        await self.handler(record)
        return str(body["event_id"])

    async def round(self, *, settled: bool = True) -> None:
        if settled:  # past every window (deadline 6 s), the skew and the settle time
            self.clock.advance(6 + SKEW + SETTLE + 1)
        await self.poller.round()
        await self.reconciler.drain()

    def events(self, event_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        found = [orjson.loads(v) for _t, _k, v in self.producer.sent]
        return [
            e for e in found if e["event_id"] == event_id and (kind is None or e["type"] == kind)
        ]

    def story(self, event_id: str) -> list[tuple[str, str, str | None]]:
        """(type, outcome or status, reconciliation or reason) of each event, in order."""
        out = []
        for e in self.events(event_id):
            if e["type"] == "result":
                out.append(("result", e["outcome"], e.get("reconciliation")))
            else:
                out.append(("status", e["status"], e["reason"]))
        return out

    def metric(self, name: str, **labels: str) -> float:
        return sample_value(self.registry, name, labels)


def make_rig(lease: Any = None, **overrides: Any) -> Rig:
    clock = ManualClock()
    registry = CollectorRegistry()
    metrics = Metrics(registry, REJECTION_REASONS)
    s = settings(**overrides)
    health = Health(clock=clock, stall_seconds=60)
    core = Core(s, clock, random.Random(3), metrics, health, "relay-1")
    pushr = FakePushr(clock)
    client = PushrClient(
        httpx.AsyncClient(transport=httpx.MockTransport(pushr)),
        s,
        clock=clock,
        rng=random.Random(1),
        breakers=BreakerSet.from_settings(s, clock),
        limiter=RateLimiter.from_settings(s, clock),
    )
    ledger = MemoryLedger(clock, 3600, reconcile=True)
    producer = FakeProducer()
    store = MemoryTrackStore()
    publisher = TrackingPublisher(producer, "out", "dlq", StatusTracker(store, clock, metrics))
    deliverer = build_deliverer(core, ledger, ledger)
    handler = build_handler(core, ledger, client, publisher, deliverer=deliverer)
    reconciler = build_reconciler(core, ledger, deliverer, client, publisher)
    poller = StatusPoller(
        reader=MessageListReader(
            client, business=7, credentials=StaticToken(SecretStr("eyJ.unit.jwt"))
        ),
        publisher=publisher,
        store=store,
        lease=lease or LocalLease(),
        metrics=metrics,
        clock=clock,
        rng=random.Random(2),
        poll_seconds=30.0,
        track_ttl_seconds=3600.0,
        reconciler=reconciler,
    )
    return Rig(clock, pushr, ledger, handler, poller, reconciler, producer, registry)


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def assert_valid(rig: Rig, event_id: str) -> None:
    for event in rig.events(event_id):
        assert schema_errors(RESULT if event["type"] == "result" else STATUS, event) == []


@pytest.mark.parametrize("fault", ["late", "reset"])
async def test_processed_but_unanswered_is_reconciled_sent(rig: Rig, fault: str) -> None:
    rig.pushr.script = [fault]
    event_id = await rig.handle()
    assert rig.story(event_id) == [
        ("status", "accepted", None),
        ("result", "unknown", "pending"),
        ("status", "unknown", "reconciling"),
    ]
    await rig.round(settled=False)  # too early: nothing said
    assert len(rig.events(event_id)) == 3
    assert rig.metric("pushr_relay_reconcile_waiting_batches", reason="window_open") == 1

    await rig.round()
    assert rig.story(event_id)[3:] == [("result", "sent", "sent"), ("status", "sent", "reconciled")]
    reconciled = rig.events(event_id, "result")[-1]
    assert (reconciled["reconciled"], reconciled["pushr_message_id"]) == (True, 1)
    assert rig.events(event_id, "status")[-1]["pushr_message_ids"] == [1]
    assert rig.pushr.sends == 1
    assert_valid(rig, event_id)
    entry = await rig.ledger.get(f"{event_id}#0/1")
    assert entry is not None
    assert entry.state is BatchState.SENT
    assert await rig.ledger.pending() == []
    verdict = {"verdict": "sent", "delivery": "at_most_once"}
    assert rig.metric("pushr_relay_reconcile_verdicts_total", **verdict) == 1
    assert rig.metric("pushr_relay_reconcile_pending_batches") == 0


@pytest.mark.parametrize("mode", ["at_most_once", "at_least_once"])
async def test_a_request_never_processed_is_sent_once_after_the_verdict(
    rig: Rig, mode: str
) -> None:
    rig.pushr.script = ["lost"]
    event_id = await rig.handle(delivery=mode)
    assert rig.pushr.sends == 1
    await rig.round()
    assert rig.pushr.sends == 2
    assert rig.pushr.count(OTP, "233241000001") == 1
    assert rig.story(event_id)[3:] == [
        ("result", "sent", "not_sent"),
        ("status", "sent", "reconciled"),
    ]
    assert_valid(rig, event_id)
    await rig.round()  # nothing left to do, nothing sent again
    assert rig.pushr.sends == 2


async def test_the_send_a_verdict_calls_for_keeps_the_events_lane(rig: Rig) -> None:
    rig.pushr.script = ["lost"]
    event_id = await rig.handle(priority="critical")
    waited = "pushr_relay_send_wait_seconds_count"
    assert rig.metric(waited, priority="critical") == 1
    await rig.round()
    assert rig.story(event_id)[3] == ("result", "sent", "not_sent")
    assert (rig.metric(waited, priority="critical"), rig.metric(waited, priority="normal")) == (
        2,
        0,
    )


async def test_a_lapsed_claim_is_reconciled_before_any_resend(rig: Rig) -> None:
    # a relay claimed the batch, sent it (Push.R processed it) and died before recording it
    await rig.ledger.claim_open("evt-0#0/1", "dead-relay:0", 5.0, _signature())
    rig.pushr.processed(OTP, ("233241000001",))
    rig.clock.advance(6)
    event_id = await rig.handle(delivery="at_least_once")
    assert rig.pushr.sends == 0  # taken over: no blind resend
    assert rig.story(event_id)[1:] == [
        ("result", "unknown", "pending"),
        ("status", "unknown", "reconciling"),
    ]
    await rig.round()
    assert rig.pushr.sends == 0
    assert rig.story(event_id)[3:] == [("result", "sent", "sent"), ("status", "sent", "reconciled")]


async def test_identical_texts_one_entry_two_batches_stay_ambiguous_at_most_once(
    rig: Rig,
) -> None:
    rig.pushr.script = ["late", "lost"]
    first = await rig.handle(message="Sale at Osu", recipients=["0241000001"])
    second = await rig.handle(message="Sale at Osu", recipients=["0241000002"])
    await rig.round()
    for event_id in (first, second):
        assert rig.story(event_id)[3:] == [
            ("result", "unknown", "ambiguous"),
            ("status", "unknown", "reconciled"),
        ]
        assert_valid(rig, event_id)
    assert rig.pushr.sends == 2  # never resent at most once
    assert await rig.ledger.pending() == []


async def test_identical_texts_ambiguous_at_least_once_are_resent(rig: Rig) -> None:
    rig.pushr.script = ["late", "lost"]
    first = await rig.handle(message="Sale at Osu", delivery="at_least_once")
    second = await rig.handle(
        message="Sale at Osu", recipients=["0241000002"], delivery="at_least_once"
    )
    await rig.round()
    assert rig.pushr.sends == 4
    for event_id in (first, second):
        assert rig.story(event_id)[3:] == [
            ("result", "sent", "ambiguous"),
            ("status", "sent", "reconciled"),
        ]
    verdict = {"verdict": "ambiguous", "delivery": "at_least_once"}
    assert rig.metric("pushr_relay_reconcile_verdicts_total", **verdict) == 2


async def test_an_attributed_entry_never_makes_a_lost_request_look_sent(rig: Rig) -> None:
    rig.pushr.script = ["ok", "lost"]
    await rig.handle(event_id="first", message="Sale at Osu")  # sent, its id attributed
    lost = await rig.handle(event_id="second", message="Sale at Osu")
    await rig.round()
    assert rig.story(lost)[3] == ("result", "sent", "not_sent")
    assert rig.pushr.sends == 3


async def test_a_round_cut_short_judges_nothing() -> None:
    lease = FixedLease(held=True)
    rig = make_rig(lease=lease)
    for i in range(7):  # more than a page of other messages, all newer than the batch
        rig.pushr.processed(f"other {i}", ("233241009999",))
    rig.pushr.script = ["lost"]
    event_id = await rig.handle()
    for i in range(7):
        rig.pushr.processed(f"newer {i}", ("233241009999",))
    rig.clock.advance(6 + SKEW + SETTLE + 1)

    answers = iter([True, False])  # held for the first page, lost before the second

    async def lose_after_first_page() -> bool:
        return next(answers, False)

    lease.acquire = lose_after_first_page  # type: ignore[method-assign]
    await rig.poller.round()
    assert len(rig.events(event_id)) == 3
    assert rig.metric("pushr_relay_reconcile_waiting_batches", reason="list_incomplete") == 1
    lease.acquire = FixedLease(held=True).acquire  # type: ignore[method-assign]
    await rig.round(settled=False)
    assert rig.story(event_id)[3] == ("result", "sent", "not_sent")


async def test_an_entry_without_its_fields_judges_nothing(rig: Rig) -> None:
    rig.pushr.script = ["lost"]
    rig.pushr.omit_created = True
    rig.pushr.processed("something else", ("233241009999",))
    event_id = await rig.handle()
    await rig.round()
    assert len(rig.events(event_id)) == 3
    assert rig.metric("pushr_relay_reconcile_waiting_batches", reason="list_unreadable") == 1


async def test_another_replica_publishes_what_a_dead_one_decided(rig: Rig) -> None:
    rig.pushr.script = ["late"]
    event_id = await rig.handle()

    async def refuse(*_: Any, **__: Any) -> Any:
        raise RuntimeError("broker gone")

    rig.producer.send = refuse  # type: ignore[method-assign]
    rig.clock.advance(6 + SKEW + SETTLE + 1)
    await rig.poller.round()  # the verdict is committed, then publishing fails
    (record,) = await rig.ledger.pending()
    assert record.verdict is not None
    del rig.producer.send  # the broker is back
    # another replica: the same ledger and publisher, nothing of the first one's memory
    successor = Reconciler(
        rig.reconciler._settler, skew_seconds=SKEW, settle_seconds=SETTLE, deadline_seconds=6.0
    )
    await successor.begin()
    await successor.finish(complete=True)
    assert rig.story(event_id)[-2:] == [
        ("result", "sent", "sent"),
        ("status", "sent", "reconciled"),
    ]
    assert await rig.ledger.pending() == []


async def test_a_batch_that_expired_before_its_verdict_is_not_sent(rig: Rig) -> None:
    rig.pushr.script = ["lost"]
    expires = rig.clock.now() + 10
    stamp = f"{_iso(expires)}"
    event_id = await rig.handle(expires_at=stamp)
    await rig.round()
    assert rig.pushr.sends == 1
    assert rig.story(event_id)[3:] == [
        ("result", "failed", "not_sent"),
        ("status", "failed", "reconciled"),
    ]


async def test_template_sends_are_not_handed_over(rig: Rig) -> None:
    rig.pushr.script = ["late"]
    event_id = await rig.handle(
        template="Hi {name}", rows=[{"contact": "0241000001", "name": "Ama"}], sender_id="PYWE"
    )
    assert rig.story(event_id)[1:] == [("result", "unknown", None), ("status", "unknown", None)]
    assert await rig.ledger.pending() == []


async def test_without_reconciliation_nothing_changes() -> None:
    rig = make_rig()
    plain = MemoryLedger(rig.clock, 3600)
    core = Core(settings(), rig.clock, random.Random(3), Metrics(CollectorRegistry()),
                Health(clock=rig.clock, stall_seconds=60), "relay-1")  # fmt: skip
    handler = build_handler(core, plain, rig.handler._client, rig.handler._publisher)
    rig.pushr.script = ["late"]
    record = SimpleNamespace(topic="in", partition=0, offset=1, timestamp=None,
                             value=orjson.dumps({"event_id": "e", "message": OTP,
                                                 "recipients": ["0241000001"]}))  # fmt: skip
    await handler(record)
    assert rig.story("e")[1:] == [("result", "unknown", None), ("status", "unknown", None)]
    assert await plain.pending() == []
    await asyncio.sleep(0)


def _signature() -> Signature:
    return Signature.of(OTP, None, 1)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
