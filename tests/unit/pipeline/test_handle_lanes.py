"""An event's batches enter lazily (a few at a time, results published as they end), carry
the event's lane and expiry, and the final status tells what expired."""

from __future__ import annotations

import asyncio
import contextlib
import random
from types import SimpleNamespace
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from service.builders import lane_hooks
from service.clock import ManualClock
from service.contract import REJECTION_REASONS, Contract, ContractLimits
from service.ledger.memory import MemoryLedger
from service.observability.metrics import Metrics
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.gate import SendGate
from service.pipeline.handle import HandlerConfig, RecordHandler
from service.pushr.outcomes import Outcome, ProviderResult, SendTurn
from service.settings import Settings
from tests.fixtures.metrics import sample_value

NUMBERS = [f"0241{n:06d}" for n in range(1, 11)]


class Watch:
    """Wakes a test when the client or publisher it watches changed."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def changed(self) -> None:
        self._changed.set()

    async def until(self, predicate: Any) -> None:
        while not predicate():
            self._changed.clear()
            await self._changed.wait()


class Client:
    """Each send waits until the test lets it answer; remembers what ran at once."""

    def __init__(self, clock: ManualClock, *, advance_on_first: float = 0.0) -> None:
        self.clock = clock
        self.watch = Watch()
        self.advance_on_first = advance_on_first
        self.in_flight = 0
        self.most = 0
        self.turns: list[SendTurn] = []
        self.answer = asyncio.Semaphore(0)

    async def send_sms(self, *, recipients: tuple[str, ...], turn: SendTurn, **_: Any) -> Any:
        self.turns.append(turn)
        if turn.expires_at is not None and self.clock.now() >= turn.expires_at:
            return ProviderResult(outcome=Outcome.EXPIRED, endpoint="send-sms")
        if turn.on_request:
            turn.on_request()  # as the real client does, right before the request
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.watch.changed()
        try:
            await self.answer.acquire()
        finally:
            self.in_flight -= 1
        if len(self.turns) == 1:
            self.clock.advance(self.advance_on_first)
        return ProviderResult(
            outcome=Outcome.ACCEPTED, endpoint="send-sms", status_code=201, body={"id": 1}
        )


class Publisher:
    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.events: list[dict[str, Any]] = []

    async def event(self, key: str, value: dict[str, Any]) -> asyncio.Future[Any]:
        self.events.append(value)
        self.watch.changed()
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    dead_letter = event


def handler(
    client: Client,
    publisher: Publisher,
    registry: CollectorRegistry,
    ledger: MemoryLedger | None = None,
    **config: Any,
) -> RecordHandler:
    clock = client.clock
    metrics = Metrics(registry, REJECTION_REASONS)
    return RecordHandler(
        contract=Contract(ContractLimits.from_settings(Settings())),
        deliverer=BatchDeliverer(
            ledger=MemoryLedger(clock, 3600) if ledger is None else ledger,
            gate=SendGate(clock, 5.0),
            clock=clock,
            rng=random.Random(1),
            owner="me",
            lease_seconds=30.0,
            retry_base=0.1,
            retry_cap=1.0,
            lane_hooks=lane_hooks(metrics),
        ),
        client=client,  # type: ignore[arg-type]
        publisher=publisher,  # type: ignore[arg-type]
        metrics=metrics,
        clock=clock,
        config=HandlerConfig(batch_size=1, default_business=1, **config),
    )


def record(body: dict[str, Any], topic: str = "in") -> Any:
    return SimpleNamespace(
        topic=topic, partition=0, offset=0, value=orjson.dumps(body), timestamp=None
    )


async def test_a_large_event_enters_a_few_batches_at_a_time_and_publishes_as_they_end() -> None:
    clock = ManualClock()
    client = Client(clock)
    publisher = Publisher(client.watch)
    handle = handler(client, publisher, CollectorRegistry(), batches_per_event=2)
    task = asyncio.create_task(
        handle(record({"event_id": "big", "message": "hi", "recipients": NUMBERS}))
    )
    async with asyncio.timeout(5):
        for answered in range(1, 11):
            await client.watch.until(lambda n=answered: client.in_flight >= min(2, 11 - n))
            assert len(client.turns) == min(answered + 1, 10)  # planned as turns come
            client.answer.release()
            await client.watch.until(
                lambda n=answered: sum(e["type"] == "result" for e in publisher.events) >= n
            )
        await task
    assert client.most == 2
    kinds = [e["type"] if e["type"] == "result" else e["status"] for e in publisher.events]
    assert kinds == ["accepted", *["result"] * 10, "sent"]
    final = publisher.events[-1]
    assert final["batches"]["total"] == final["batches"]["sent"] == 10
    assert final["priority"] == "normal"


async def test_batches_that_expire_while_others_send_are_told_in_the_final_status() -> None:
    clock = ManualClock()
    # the first answer takes the clock past the event's expiry: no other batch may go
    client = Client(clock, advance_on_first=120.0)
    publisher = Publisher(client.watch)
    registry = CollectorRegistry()
    handle = handler(client, publisher, registry, batches_per_event=1)
    body = {
        "event_id": "otp",
        "message": "Your code is 1234",
        "recipients": NUMBERS[:3],
        "priority": "critical",
        "expires_at": "2023-11-14T22:14:20Z",  # 60 s after the manual clock's start
    }
    task = asyncio.create_task(handle(record(body)))
    async with asyncio.timeout(5):
        await client.watch.until(lambda: client.in_flight >= 1)
        client.answer.release()
        await task
    results = [e for e in publisher.events if e["type"] == "result"]
    assert [r["outcome"] for r in results] == ["sent", "expired", "expired"]
    assert {turn.lane for turn in client.turns} == {"critical"}
    final = publisher.events[-1]
    assert (final["status"], final["reason"], final["batches"]["expired"]) == (
        "partially_sent",
        "expired",
        2,
    )
    assert final["priority"] == "critical"
    lane = {"priority": "critical"}
    assert sample_value(registry, "pushr_relay_batches_expired_total", lane) == 2
    assert sample_value(registry, "pushr_relay_send_wait_seconds_count", lane) == 1
    assert sample_value(registry, "pushr_relay_send_queue_length", lane) == 0


async def test_a_lane_topic_wins_over_the_field_and_says_so() -> None:
    clock = ManualClock()
    client = Client(clock)
    publisher = Publisher(client.watch)
    handle = handler(client, publisher, CollectorRegistry(), topic_lanes={"sms.bulk": "bulk"})
    body = {"event_id": "promo", "message": "hi", "recipients": NUMBERS[:1], "priority": "critical"}
    task = asyncio.create_task(handle(record(body, topic="sms.bulk")))
    async with asyncio.timeout(5):
        await client.watch.until(lambda: client.in_flight >= 1)
        client.answer.release()
        await task
    accepted = publisher.events[0]
    assert accepted["priority"] == "bulk"
    assert any(w.startswith("priority_overridden:") for w in accepted["warnings"])
    assert client.turns[0].lane == "bulk"
    assert client.turns[0].expires_at is None  # a critical default expiry does not apply


async def test_an_event_expired_on_redelivery_is_unknown_when_a_request_may_have_left() -> None:
    """A relay died mid-request; the event comes back after its expiry and the lease."""
    clock = ManualClock()
    ledger = MemoryLedger(clock, 3600)
    body = {
        "event_id": "otp",
        "message": "Your code is 1234",
        "recipients": NUMBERS[:1],
        "expires_at": "2023-11-14T22:14:20Z",  # 60 s after the manual clock's start
    }
    client = Client(clock)
    first = asyncio.create_task(
        handler(client, Publisher(client.watch), CollectorRegistry(), ledger)(record(body))
    )
    async with asyncio.timeout(5):
        await client.watch.until(lambda: client.in_flight >= 1)
    first.cancel()  # the request is in the air: the claim stays, as after a SIGKILL
    with contextlib.suppress(asyncio.CancelledError):
        await first
    clock.advance(120.0)  # past the expiry and the 30 s lease

    again = Client(clock)
    publisher = Publisher(again.watch)
    async with asyncio.timeout(5):
        await handler(again, publisher, CollectorRegistry(), ledger)(record(body))
    assert again.turns == []  # nothing sent a second time
    results = [e for e in publisher.events if e["type"] == "result"]
    assert [r["outcome"] for r in results] == ["unknown"]  # never "expired": it may have left
    assert publisher.events[-1]["status"] != "expired"


async def test_an_event_expired_on_arrival_that_no_batch_of_was_claimed_is_expired() -> None:
    clock = ManualClock()
    clock.advance(120.0)
    client = Client(clock)
    publisher = Publisher(client.watch)
    body = {
        "event_id": "late",
        "message": "hi",
        "recipients": NUMBERS[:2],
        "expires_at": "2023-11-14T22:14:20Z",
    }
    async with asyncio.timeout(5):
        await handler(client, publisher, CollectorRegistry())(record(body))
    assert client.turns == []
    assert [e["status"] for e in publisher.events] == ["expired"]
