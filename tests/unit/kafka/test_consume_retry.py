"""A record whose handling fails is retried until it succeeds: never skipped (lost) and
never left unfinished (which would hold the partition's commits). The waits between tries
follow the shared backoff on the loop's clock."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from service.clock import Clock, ManualClock, SteppedClock
from service.kafka.consume import ConsumerLoop
from tests.fixtures.metrics import sample_value
from tests.unit.jitter import TopOfRange
from tests.unit.kafka.loops import consumer_loop

TP = TopicPartition("in", 0)
BASE = 0.5
CAP = 4.0


def loop_with(handle: Any, registry: CollectorRegistry, clock: Clock) -> ConsumerLoop:
    # no fetching happens in these tests
    consumer = SimpleNamespace(assignment=lambda: {TP})
    return consumer_loop(
        consumer,
        handle,
        clock=clock,
        registry=registry,
        rng=TopOfRange(),
        retry_base=BASE,
        retry_cap=CAP,
    )


async def test_a_failing_record_is_retried_until_done_then_committable() -> None:
    calls: list[int] = []

    async def flaky(record: Any) -> None:
        calls.append(record.offset)
        if len(calls) < 7:
            raise RuntimeError("broker refused the publish")

    registry = CollectorRegistry()
    clock = ManualClock()
    loop = loop_with(flaky, registry, clock)
    loop.tracker.add(TP, 7)
    async with asyncio.timeout(5):
        await loop._run_one(TP, SimpleNamespace(offset=7))
    assert calls == [7] * 7
    assert clock.slept == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # doubling from the base, capped
    assert loop.tracker.to_commit() == {TP: 8}
    assert sample_value(registry, "pushr_relay_record_retries_total") == 6


async def test_a_revoke_cancels_the_retries_and_leaves_the_record_uncommitted() -> None:
    async def broken(_: Any) -> None:
        raise RuntimeError("bug")

    clock = SteppedClock()
    loop = loop_with(broken, CollectorRegistry(), clock)
    loop.tracker.add(TP, 3)
    task = asyncio.create_task(loop._run_one(TP, SimpleNamespace(offset=3)))
    async with asyncio.timeout(5):
        await clock.asleep(BASE)  # failed once, waiting to retry
        clock.advance(BASE)
        await clock.asleep(2 * BASE)  # failed twice
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert clock.sleeping() == []
    assert loop.tracker.to_commit() == {}
    assert loop.tracker.in_flight(TP) == 1  # still unfinished: redelivered to the new owner
