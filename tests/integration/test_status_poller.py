"""The delivery-status poller against the sandbox's real list endpoint (JWT, pagination,
pending → sent → final on the sandbox's schedule), inside the real relay with the Redis
ledger; and the Redis lease and track store that let another replica take over."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from service.contract.schemas import STATUS, schema_errors
from service.devkit.sandbox import DEMO_PASSWORD, DEMO_USERNAME, LifecycleConfig, SandboxConfig
from service.ledger.lease import RedisLease
from service.status.tracked import RedisTrackStore, TrackedMessage
from tests.fixtures.redis_clients import redis_client_for as production_redis_client
from tests.integration.relay_harness import (
    TopicReader,
    eventually,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    redis_ledger,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def delivery_reports(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in of_type(records, "status") if r.get("reason") == "delivery_report"]


async def test_final_statuses_are_published_once_per_message(
    kafka_bootstrap, topic_factory, sandbox_factory, redis_url, redis_client, redis_key_prefix
) -> None:
    numbers = phone_numbers(15)
    failing = numbers[12:]
    sandbox = sandbox_factory(
        SandboxConfig(
            seed=7,
            page_size=3,  # 8 messages: the poller must follow `next`
            lifecycle=LifecycleConfig(
                sent_after_s=0.2,
                final_after_s=0.8,
                outcomes={"delivered": 1.0},
                fail_recipients=frozenset(international(n) for n in failing),
            ),
        )
    )
    topics = await make_topics(topic_factory)
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        batch_size=2,
        pushr_username=DEMO_USERNAME,
        pushr_password=DEMO_PASSWORD,
        status_poll_seconds=0.2,
        **redis_ledger(redis_url, redis_key_prefix),
    )
    delivered = sms_event(numbers[:12])  # 6 messages
    partial = sms_event([numbers[12], numbers[0]])  # one failing recipient of two
    failed = sms_event([numbers[13]])
    events = [delivered, partial, failed]

    def all_reported(records: list[dict[str, Any]]) -> bool:
        return len(delivery_reports(records)) >= 8

    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, events)
        records = await out.wait_for(all_reported, within=60)
        tracked_key = f"{settings.ledger_key_prefix}status:tracked"
        await eventually(lambda: _empty(redis_client, tracked_key), within=10)
        polls = relay.metric("pushr_relay_status_polls_total", {"outcome": "ok"})
        assert polls >= 1
        assert relay.metric("pushr_relay_delivery_reports_total", {"status": "delivered"}) == 6
        assert relay.metric("pushr_relay_status_poller_leader") == 1
        await relay.stop()

    reports = delivery_reports(records)
    assert len(reports) == 8  # one per message, none twice
    assert all(schema_errors(STATUS, r) == [] for r in reports)
    by_event = {
        e["event_id"]: sorted(r["status"] for r in reports if r["event_id"] == e["event_id"])
        for e in events
    }
    assert by_event == {
        delivered["event_id"]: ["delivered"] * 6,
        partial["event_id"]: ["partial_failed"],
        failed["event_id"]: ["failed"],
    }
    sent_ids = {r["pushr_message_id"] for r in of_type(records, "result")}
    reported_ids = [i for r in reports for i in r["pushr_message_ids"]]
    assert sorted(reported_ids) == sorted(sent_ids)
    lists = sandbox.traffic.requests("list")
    assert lists
    assert {r.status for r in lists} == {200}
    # the lease is given back on shutdown: another replica need not wait for it to lapse
    assert await redis_client.get(f"{settings.ledger_key_prefix}status:lease") is None


async def _empty(redis: aioredis.Redis, key: str) -> bool:
    return await redis.hlen(key) == 0


async def test_one_lease_holder_at_a_time_and_take_over_after_release(
    redis_url, redis_key_prefix
) -> None:
    redis = production_redis_client(redis_url, client_name="pushr-relay-test")
    key = f"{redis_key_prefix}status:lease"
    try:
        a = RedisLease(redis, key, "replica-a", ttl_seconds=30)
        b = RedisLease(redis, key, "replica-b", ttl_seconds=30)
        assert await a.acquire()
        assert not await b.acquire()
        assert await a.acquire()  # renewing is acquiring again
        await b.release()  # not b's to give back
        assert not await b.acquire()
        await a.release()
        assert await b.acquire()
        assert not await a.acquire()
        # a lapsed lease (its holder stopped renewing) can be taken
        await redis.pexpire(key, 1)
        await eventually(a.acquire, within=5, interval=0.01)
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_the_track_store_is_shared_and_first_write_wins(redis_url, redis_key_prefix) -> None:
    redis = production_redis_client(redis_url, client_name="pushr-relay-test")
    key = f"{redis_key_prefix}status:tracked"
    try:
        replica_a, replica_b = RedisTrackStore(redis, key), RedisTrackStore(redis, key)
        first = TrackedMessage(7, "evt-1", None, 0, 1, tracked_at=100.0, metadata={"k": 1})
        await replica_a.add(first)
        await replica_b.add(TrackedMessage(7, "evt-1", None, 0, 1, tracked_at=200.0))
        assert await replica_b.all() == [first]
        await replica_b.remove([7])
        await replica_a.update(first)  # untracked elsewhere: not revived
        assert await replica_a.all() == []
    finally:
        await redis.delete(key)
        await redis.aclose()
