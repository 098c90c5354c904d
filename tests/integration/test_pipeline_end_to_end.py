"""The whole path on real parts: Kafka in-topic → relay → sandbox over HTTP → outbound topic."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.relay_harness import (
    TopicReader,
    final_state,
    final_status,
    make_topics,
    of_type,
    produce,
    relay_settings,
    running_relay,
)

pytestmark = pytest.mark.integration


async def test_one_event_is_sent_once_and_its_result_published(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    event_id = f"evt-{uuid.uuid4().hex[:8]}"
    event = {
        "event_id": event_id,
        "message": "Your order ORD123 is ready for pickup.",
        "recipients": ["0558544343", "+233 24 876 9324", "055-854-4343"],
        "sender_id": "PYWE",
        "metadata": {"order": "ORD123"},
    }
    settings = relay_settings(kafka_bootstrap, sandbox, topics)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(lambda rs: final_status(rs, event_id) is not None)
        await relay.stop()

    results = of_type(records, "result", event_id)
    assert len(results) == 1
    result = results[0]
    assert result["outcome"] == "sent"
    accepted = sandbox.traffic.accepted_requests("send-sms")
    assert len(accepted) == 1
    assert result["pushr_message_id"] == accepted[0].message_ids[0]
    assert result["recipients_count"] == 2  # the duplicate spelling collapsed
    assert result["metadata"] == {"order": "ORD123"}
    assert "233558544343" not in str(records)  # numbers are masked on the way out
    assert sandbox.traffic.sends_for("233558544343") == 1
    assert sandbox.traffic.sends_for("233248769324") == 1
    assert sandbox.traffic.duplicate_sends() == []
    assert final_state(records, event_id) == "sent"
    assert relay.metric("pushr_relay_events_accepted_total") == 1
    assert relay.metric("pushr_relay_offset_commits_total") >= 1


async def test_bad_bytes_go_to_the_dlq_and_the_consumer_keeps_going(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    good_id = f"evt-{uuid.uuid4().hex[:8]}"
    settings = relay_settings(kafka_bootstrap, sandbox, topics)
    async with (
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(
            kafka_bootstrap,
            topics.inbound,
            [
                b"\xff\xfe not utf-8",
                b"{not json",
                b"[1, 2, 3]",
                {"event_id": "bad-1", "message": "hi"},  # no recipients
                {"event_id": "bad-2", "message": "hi", "recipients": ["0302123456"]},
                {"event_id": good_id, "message": "still here", "recipients": ["0241234567"]},
            ],
        )
        dead = await dlq.wait_for(lambda rs: len(rs) >= 5)
        await out.wait_for(lambda rs: final_status(rs, good_id) is not None)
        await relay.stop()

    reasons = [record["reason"] for record in dead]
    assert reasons[:3] == ["not_utf8", "not_json", "not_object"]
    assert reasons[3] == "schema_invalid"
    assert reasons[4] == "no_valid_recipients"
    assert all(record["source"]["topic"] == topics.inbound for record in dead)
    assert [record["source"]["offset"] for record in dead] == [0, 1, 2, 3, 4]
    assert "0302123456" not in str(dead)
    assert sandbox.traffic.sends_for("233241234567") == 1
    assert relay.metric("pushr_relay_events_dead_lettered_total", {"reason": "not_json"}) == 1
