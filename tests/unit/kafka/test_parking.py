"""Parking: a record waiting at a held account's gate frees its in-flight slot and bytes,
within a bound, and is never committable until it is done."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from service.clock import SteppedClock
from service.kafka.offsets import OffsetTracker
from service.kafka.parked import Parking, RecordSpot
from service.observability.metrics import Metrics
from service.pipeline.gate import SendGate
from service.pipeline.parking import current_spot

TP = TopicPartition("in", 0)


def parking(tracker: OffsetTracker, limit: int, moved: list[int]) -> Parking:
    gauge = Metrics(CollectorRegistry()).accounts.events_parked

    def on_move(_lane: str, size: int, aside: bool) -> None:
        moved.append(-size if aside else size)

    return Parking(tracker, limit, gauge, on_move)


def record(offset: int, size: int = 10) -> SimpleNamespace:
    return SimpleNamespace(offset=offset, value=b"x" * size)


def test_a_parked_record_stops_counting_but_still_holds_the_commit() -> None:
    tracker = OffsetTracker()
    for offset in range(3):
        tracker.add(TP, offset)
    moved: list[int] = []
    spots = parking(tracker, 10, moved)
    spot = RecordSpot(spots, TP, record(0), "normal", 10)
    assert spot.park()
    assert tracker.in_flight(TP) == 2
    assert moved == [-10]
    tracker.done(TP, 1)
    tracker.done(TP, 2)
    assert tracker.to_commit() == {}  # offset 0 waits: nothing past it is committable
    spot.unpark()
    assert tracker.in_flight(TP) == 1
    tracker.done(TP, 0)
    assert tracker.in_flight(TP) == 0
    assert tracker.to_commit() == {TP: 3}
    assert moved == [-10, 10]


def test_parking_is_bounded_and_counts_a_record_once() -> None:
    tracker = OffsetTracker()
    for offset in range(3):
        tracker.add(TP, offset)
    spots = parking(tracker, 1, [])
    first = RecordSpot(spots, TP, record(0), "normal", 10)
    assert first.park()
    assert first.park()  # a second batch of the same record
    assert spots.count == 1
    assert not RecordSpot(spots, TP, record(1), "normal", 10).park()  # no room: it keeps counting
    first.unpark()
    assert spots.count == 1
    first.unpark()
    assert spots.count == 0


def test_a_record_cancelled_while_parked_is_counted_again() -> None:
    tracker = OffsetTracker()
    tracker.add(TP, 0)
    spots = parking(tracker, 5, [])
    spot = RecordSpot(spots, TP, record(0), "normal", 10)
    spot.park()
    spot.leave()
    assert spots.count == 0
    assert tracker.in_flight(TP) == 1


async def test_a_gate_that_may_park_parks_its_waiters_until_it_opens() -> None:
    tracker = OffsetTracker()
    tracker.add(TP, 0)
    spots = parking(tracker, 5, [])
    clock = SteppedClock()
    gate = SendGate(clock, recheck_seconds=30, may_park=True)
    gate.close("budget_exceeded")

    async def waiter() -> bool:
        current_spot.set(RecordSpot(spots, TP, record(0), "normal", 10))
        return await gate.pass_through()

    task = asyncio.create_task(waiter())
    await clock.asleep()
    assert spots.count == 1
    assert tracker.in_flight(TP) == 0
    gate.open("budget_exceeded")
    clock.advance(30)
    assert await task is False
    assert spots.count == 0


async def test_a_gate_of_one_account_never_parks() -> None:
    tracker = OffsetTracker()
    tracker.add(TP, 0)
    spots = parking(tracker, 5, [])
    clock = SteppedClock()
    gate = SendGate(clock, recheck_seconds=30)
    gate.close("insufficient_balance")

    async def waiter() -> bool:
        current_spot.set(RecordSpot(spots, TP, record(0), "normal", 10))
        return await gate.pass_through()

    task = asyncio.create_task(waiter())
    await clock.asleep()
    assert spots.count == 0
    clock.advance(30)
    assert await task is True  # the probe
