"""SIGTERM mid-stream on the real process (`python -m service run`, configured only by
PUSHR_RELAY_* variables): it drains, commits and exits; the next incarnation picks up the
rest, and every event ends with one final status and every SMS went out once."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from service.devkit.sandbox import SMALL_BUSINESS_ID, SMALL_PUBLIC_KEY, SMALL_SECRET_KEY
from tests.integration.relay_harness import (
    TopicReader,
    all_final,
    eventually,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    redis_ledger,
    relay_process,
    relay_values,
    sms_event,
)

pytestmark = pytest.mark.integration

EVENTS = 120


async def test_sigterm_under_load_loses_nothing_and_sends_nothing_twice(
    kafka_bootstrap, topic_factory, sandbox, tmp_path
) -> None:
    topics = await make_topics(topic_factory, partitions=2)
    events = [sms_event(phone_numbers(2)) for _ in range(EVENTS)]
    ids = [e["event_id"] for e in events]
    sandbox.set_faults({"latency_ms": 20})
    # The in-memory ledger dies with the process: any event finished but left uncommitted
    # at shutdown would be sent again by the next incarnation, and show as a duplicate.
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        ledger_backend="memory",
        max_in_flight=8,
        max_in_flight_per_partition=4,
        fetch_max_records=4,
        http_max_connections=4,
    )
    await produce(kafka_bootstrap, topics.inbound, events, concurrent=True)
    async with TopicReader(kafka_bootstrap, topics.outbound) as out:
        async with relay_process(values, tmp_path / "relay-1.log") as first:
            await eventually(lambda: sandbox.traffic.accepted_sends >= 20, within=60)
            first.signal(signal.SIGTERM)
            assert await first.wait(within=30) == 0, first.log_tail()
            assert first.logged("relay_stopped")
            assert not first.logged("drain_deadline_passed")
        finished_first = len({r["event_id"] for r in of_type(out.records, "status")})
        assert 0 < sandbox.traffic.accepted_sends < 2 * EVENTS, "stopped mid-stream"

        async with relay_process(values, tmp_path / "relay-2.log") as second:
            records = await out.wait_for(all_final(ids), within=60)
            second.signal(signal.SIGTERM)
            assert await second.wait(within=30) == 0, second.log_tail()

    assert 0 < finished_first < EVENTS
    assert sandbox.traffic.duplicate_sends() == []
    assert sandbox.traffic.accepted_sends == 2 * EVENTS
    for event in events:
        for number in event["recipients"]:
            assert sandbox.traffic.sends_for(international(number)) == 1
    finals = Counter(
        (r["event_id"], r["status"])
        for r in of_type(records, "status")
        if r["status"] != "accepted"
    )
    assert {event_id for event_id, _ in finals} == set(ids)
    assert set(finals) == {(event_id, "sent") for event_id in ids}
    assert set(finals.values()) == {1}  # each event finished once: nothing was redone
    for path in (tmp_path / "relay-1.log", tmp_path / "relay-2.log"):
        text = path.read_text()
        for event in events[:10]:
            for number in event["recipients"]:
                assert international(number) not in text


@pytest.mark.redis
async def test_sigterm_while_paused_exits_in_grace_and_the_rest_is_sent_later(
    kafka_bootstrap, topic_factory, sandbox, tmp_path, redis_url, redis_key_prefix, redis_client
) -> None:
    topics = await make_topics(topic_factory)
    # Business 2 can pay for six of these eight batches; the other two wait at the gate.
    events = [sms_event(phone_numbers(5), sender_id="SMALL") for _ in range(8)]
    ids = [e["event_id"] for e in events]
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        pushr_api_key_public=SMALL_PUBLIC_KEY,
        pushr_api_key_secret=SMALL_SECRET_KEY,
        pushr_business_id=SMALL_BUSINESS_ID,
        batch_size=5,
        balance_recheck_seconds=0.3,
        shutdown_grace_seconds=1.0,
        # the paid-for events behind a waiting one stay uncommitted: the shared ledger is
        # what keeps the next incarnation from paying for them again
        **redis_ledger(redis_url, redis_key_prefix),
    )
    await produce(kafka_bootstrap, topics.inbound, events)
    async with TopicReader(kafka_bootstrap, topics.outbound) as out:
        async with relay_process(values, tmp_path / "relay-1.log") as first:
            await first.wait_logged("sending_paused")
            first.signal(signal.SIGTERM)
            assert await first.wait(within=30) == 0, first.log_tail()
            assert first.logged("drain_deadline_passed")  # the waiting work was let go
        assert not all_final(ids)(out.records)
        sandbox.top_up(SMALL_BUSINESS_ID, "10.00")
        async with relay_process(values, tmp_path / "relay-2.log") as second:
            records = await out.wait_for(all_final(ids), within=30)
            second.signal(signal.SIGTERM)
            assert await second.wait(within=30) == 0, second.log_tail()

    assert sandbox.traffic.duplicate_sends() == []
    assert sandbox.traffic.accepted_sends == 40
    for event in events:
        for number in event["recipients"]:
            assert sandbox.traffic.sends_for(international(number)) == 1
    finals = [r for r in of_type(records, "status") if r["status"] != "accepted"]
    assert {r["event_id"] for r in finals} == set(ids)
    assert {r["status"] for r in finals} == {"sent"}
