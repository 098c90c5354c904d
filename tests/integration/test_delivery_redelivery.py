"""Redelivery on real parts: a relay killed before it could commit, and two relays sharing
one consumer group, over the session broker, a real Redis ledger and the sandbox."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.integration.relay_harness import (
    TopicReader,
    all_final,
    committed_offsets,
    eventually,
    final_state,
    final_status,
    group_stable_with,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    redis_ledger,
    relay_process,
    relay_settings,
    relay_values,
    running_relay,
    sms_event,
)

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def template_event(contacts: list[str], **fields):
    event = sms_event([], **fields)
    del event["message"], event["recipients"]
    return {
        **event,
        "template": "Hi {name}, your parcel is ready.",
        "rows": [{"contact": c, "name": f"Customer {i}"} for i, c in enumerate(contacts)],
        "business": 1,
    }


async def test_event_redelivered_after_a_crash_before_commit_is_not_sent_twice(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, redis_client, tmp_path
) -> None:
    topics = await make_topics(topic_factory)
    # Template sends hang in the sandbox (read, never answered, not processed), so the two
    # template events stay in flight and hold the partition's commit below them, while the
    # plain event behind them is sent, recorded in the ledger and published: exactly the
    # state a crash between "done" and "committed" leaves behind, made deterministic.
    sandbox.set_faults({"hang_rate": 1.0, "endpoints": ["custom"]})
    cautious_contacts, eager_contacts, plain_numbers = (phone_numbers(2) for _ in range(3))
    cautious = template_event(
        [international(n) for n in cautious_contacts], delivery="at_most_once"
    )
    eager = template_event([international(n) for n in eager_contacts], delivery="at_least_once")
    plain = sms_event(plain_numbers)
    ids = [cautious["event_id"], eager["event_id"], plain["event_id"]]
    overrides = {
        **redis_ledger(redis_url, redis_key_prefix),
        # short, so the survivor's takeover of the dead relay's claims comes quickly
        "ledger_lease_seconds": 1.5,
        "http_read_timeout": 60.0,
    }
    values = relay_values(kafka_bootstrap, sandbox, topics, **overrides)

    async with TopicReader(kafka_bootstrap, topics.outbound) as out:
        async with relay_process(values, tmp_path / "relay-a.log") as first:
            await produce(kafka_bootstrap, topics.inbound, [cautious, eager, plain])
            await out.wait_for(lambda rs: final_status(rs, plain["event_id"]) is not None)
            await eventually(
                lambda: len([r for r in sandbox.traffic.requests("custom") if r.fault]) == 2
            )
            first.signal(signal.SIGKILL)
            assert await first.wait(within=10) == -signal.SIGKILL
        committed = await committed_offsets(kafka_bootstrap, values["group_id"])
        assert committed.get((topics.inbound, 0), 0) == 0, "the crash must precede the commit"
        (original,) = of_type(out.records, "result", plain["event_id"])
        assert original["replayed"] is False

        sandbox.set_faults({})
        settings = relay_settings(kafka_bootstrap, sandbox, topics, **overrides)
        async with running_relay(settings) as second:
            records = await out.wait_for(
                lambda rs: (
                    all_final(ids)(rs) and len(of_type(rs, "result", plain["event_id"])) == 2
                ),
                within=60,  # the dead member holds the group until its session times out
            )
            await second.stop()
            assert second.metric("pushr_relay_duplicates_suppressed_total") == 1
            assert second.metric("pushr_relay_ledger_claims_total", {"status": "taken_over"}) == 2

    assert sandbox.traffic.duplicate_sends() == []
    # the plain event: sent once by the dead relay, its stored result re-published
    for number in plain_numbers:
        assert sandbox.traffic.sends_for(international(number)) == 1
    replayed = of_type(records, "result", plain["event_id"])[1]
    assert replayed["replayed"] is True
    assert replayed["pushr_message_id"] == original["pushr_message_id"]
    assert replayed["batch_key"] == original["batch_key"]
    assert final_state(records, plain["event_id"]) == "sent"
    # in the air when the relay died: ambiguous, so the delivery mode decides
    assert final_state(records, cautious["event_id"]) == "unknown"
    for number in cautious_contacts:
        assert sandbox.traffic.sends_for(international(number)) == 0
    assert final_state(records, eager["event_id"]) == "sent"
    for number in eager_contacts:
        assert sandbox.traffic.sends_for(international(number)) == 1
    # no full phone number or key in what the crashed relay logged
    log_text = (tmp_path / "relay-a.log").read_text()
    assert "relay_started" in log_text
    for number in [*cautious_contacts, *eager_contacts, *plain_numbers]:
        assert international(number) not in log_text
        assert number not in log_text
    assert values["pushr_api_key_secret"] not in log_text


async def test_two_relays_in_one_group_send_each_batch_once(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, redis_client
) -> None:
    topics = await make_topics(topic_factory, partitions=4)
    events = [sms_event(phone_numbers(5)) for _ in range(40)]
    ids = [e["event_id"] for e in events]
    # a little latency keeps both relays busy at once
    sandbox.set_faults({"latency_ms": {"dist": "uniform", "min_ms": 2, "max_ms": 20}})
    settings = relay_settings(
        kafka_bootstrap, sandbox, topics, batch_size=2, **redis_ledger(redis_url, redis_key_prefix)
    )
    group = settings.group_id
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as one,
        running_relay(settings) as two,
    ):
        # both members hold partitions before any event arrives, so both must take part
        await eventually(
            lambda: group_stable_with(kafka_bootstrap, group, members=2), within=45, interval=0.3
        )
        await produce(kafka_bootstrap, topics.inbound, events, concurrent=True)
        records = await out.wait_for(all_final(ids), within=60)
        await one.stop()
        await two.stop()
        consumed = [r.metric("pushr_relay_events_consumed_total") for r in (one, two)]

    assert all(n > 0 for n in consumed), consumed
    assert sum(consumed) >= len(events)
    assert sandbox.traffic.duplicate_sends() == []
    assert len(sandbox.traffic.accepted_requests("send-sms")) == 3 * len(events)
    for event in events:
        for number in event["recipients"]:
            assert sandbox.traffic.sends_for(international(number)) == 1
        assert final_state(records, event["event_id"]) == "sent"
    fresh = Counter(r["batch_key"] for r in of_type(records, "result") if not r["replayed"])
    assert len(fresh) == 3 * len(events)
    assert set(fresh.values()) == {1}


async def test_a_relay_joining_mid_stream_takes_over_without_resending(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, redis_client
) -> None:
    topics = await make_topics(topic_factory, partitions=4)
    events = [sms_event(phone_numbers(4)) for _ in range(60)]
    ids = [e["event_id"] for e in events]
    sandbox.set_faults({"latency_ms": 20})
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        batch_size=2,
        http_max_connections=2,
        max_in_flight=8,
        **redis_ledger(redis_url, redis_key_prefix),
    )
    group = settings.group_id
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as one,
    ):
        await produce(kafka_bootstrap, topics.inbound, events, concurrent=True)
        await eventually(lambda: sandbox.traffic.accepted_sends >= 8, within=30)
        # Slow Push.R down while the group rebalances, so the first relay is still mid-stream
        # (work in flight, offsets uncommitted) when it has to hand partitions over.
        sandbox.set_faults({"latency_ms": 300})
        async with running_relay(settings) as two:
            await eventually(
                lambda: group_stable_with(kafka_bootstrap, group, 2), within=45, interval=0.3
            )
            assert not all_final(ids)(out.records)
            sandbox.set_faults({"latency_ms": 5})
            records = await out.wait_for(all_final(ids), within=60)
            await two.stop()
            assert two.metric("pushr_relay_events_consumed_total") > 0
        await one.stop()
    assert sandbox.traffic.duplicate_sends() == []
    assert len(sandbox.traffic.accepted_requests("send-sms")) == 2 * len(events)
    for event in events:
        assert final_state(records, event["event_id"]) == "sent"


async def test_a_reused_idempotency_key_is_one_send_reported_to_each_event(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, redis_client
) -> None:
    topics = await make_topics(topic_factory)
    numbers = phone_numbers(3)
    # a producer retrying with a fresh event id but the same idempotency key
    first = sms_event(numbers, idempotency_key="order-7731-ready", metadata={"try": 1})
    retry = sms_event(numbers, idempotency_key="order-7731-ready", metadata={"try": 2})
    settings = relay_settings(
        kafka_bootstrap, sandbox, topics, **redis_ledger(redis_url, redis_key_prefix)
    )
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [first])
        await out.wait_for(all_final([first["event_id"]]), within=30)
        await produce(kafka_bootstrap, topics.inbound, [retry])
        records = await out.wait_for(all_final([retry["event_id"]]), within=30)
        await relay.stop()

    for number in numbers:
        assert sandbox.traffic.sends_for(international(number)) == 1
    (original,) = of_type(records, "result", first["event_id"])
    # the retry hears of the one send under its own id, with its own metadata
    (replayed,) = of_type(records, "result", retry["event_id"])
    assert replayed["replayed"] is True
    assert replayed["batch_key"] == original["batch_key"] == "order-7731-ready#0/1"
    assert replayed["pushr_message_id"] == original["pushr_message_id"]
    assert replayed["metadata"] == {"try": 2}
    status = final_status(records, retry["event_id"])
    assert status is not None
    assert status["status"] == "sent"
    assert status["pushr_message_ids"] == [original["pushr_message_id"]]
    assert [r["event_id"] for r in of_type(records, "result")] == [
        first["event_id"],
        retry["event_id"],
    ]
