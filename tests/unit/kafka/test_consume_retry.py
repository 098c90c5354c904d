"""A record whose handling fails is retried until it succeeds: never skipped (lost) and
never left unfinished (which would hold the partition's commits)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from service.kafka.consume import ConsumerLoop
from tests.unit.kafka.loops import consumer_loop

TP = TopicPartition("in", 0)


def loop_with(handle: Any, registry: CollectorRegistry) -> ConsumerLoop:
    # no fetching happens in these tests
    consumer = SimpleNamespace(assignment=lambda: {TP})
    return consumer_loop(
        consumer,
        handle,
        registry=registry,
        max_in_flight=10,
        max_in_flight_per_partition=10,
        fetch_max_records=10,
        retry_base=0.001,
        retry_cap=0.002,
    )


async def test_a_failing_record_is_retried_until_done_then_committable() -> None:
    calls: list[int] = []

    async def flaky(record: Any) -> None:
        calls.append(record.offset)
        if len(calls) < 3:
            raise RuntimeError("broker refused the publish")

    registry = CollectorRegistry()
    loop = loop_with(flaky, registry)
    loop.tracker.add(TP, 7)
    async with asyncio.timeout(5):
        await loop._run_one(TP, SimpleNamespace(offset=7))
    assert calls == [7, 7, 7]
    assert loop.tracker.to_commit() == {TP: 8}
    assert registry.get_sample_value("pushr_relay_record_retries_total") == 2


async def test_a_revoke_cancels_the_retries_and_leaves_the_record_uncommitted() -> None:
    async def broken(_: Any) -> None:
        raise RuntimeError("bug")

    loop = loop_with(broken, CollectorRegistry())
    loop.tracker.add(TP, 3)
    task = asyncio.create_task(loop._run_one(TP, SimpleNamespace(offset=3)))
    await asyncio.sleep(0.02)
    task.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert loop.tracker.to_commit() == {}
