"""`pushr-relay trace` on the real broker, relay (Redis ledger, status poller) and sandbox:
the whole story of a sent event (accepted, each result, final, delivered, the ledger's state
per batch), of a rejected one (with its dead letter) and of one never seen."""

from __future__ import annotations

from typing import Any

import pytest

from service.devkit.sandbox import LifecycleConfig, SandboxConfig
from service.settings import Settings
from tests.integration.ops_harness import pushr_relay
from tests.integration.relay_harness import (
    TopicReader,
    Topics,
    of_type,
    phone_numbers,
    produce,
    redis_ledger,
    relay_values,
    running_relay,
    sms_event,
)

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def delivered(records: list[dict[str, Any]], event_id: str, count: int) -> bool:
    reports = [
        r for r in of_type(records, "status", event_id) if r.get("reason") == "delivery_report"
    ]
    return len(reports) >= count


async def test_trace_tells_the_story_of_a_sent_a_rejected_and_an_unknown_event(
    kafka_bootstrap, topic_factory, sandbox_factory, redis_url, redis_key_prefix
) -> None:
    sandbox = sandbox_factory(
        SandboxConfig(
            seed=11,
            lifecycle=LifecycleConfig(
                sent_after_s=0.1, final_after_s=0.3, outcomes={"delivered": 1.0}
            ),
        )
    )
    topics = Topics(
        inbound=await topic_factory("in", partitions=2),
        outbound=await topic_factory("out", partitions=3),  # the key picks the partition
        dlq=await topic_factory("dlq", partitions=2),
    )
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        batch_size=2,
        pushr_jwt=sandbox.issue_token(1),
        status_poll_seconds=0.2,
        **redis_ledger(redis_url, redis_key_prefix),
    )
    numbers = phone_numbers(3)
    sent = sms_event(numbers, event_id="order-4711-ready")  # two batches
    rejected = sms_event(["0302123456"], event_id="order-4712-ready")  # a landline only
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(Settings.model_validate(values)),
    ):
        await produce(kafka_bootstrap, topics.inbound, [sent, rejected])
        records = await out.wait_for(
            lambda rs: (
                delivered(rs, sent["event_id"], 2)
                and bool(of_type(rs, "status", rejected["event_id"]))
            )
        )
        story = await pushr_relay(values, "trace", sent["event_id"], "--json")
        text = await pushr_relay(values, "trace", sent["event_id"])
        told_rejected = await pushr_relay(values, "trace", rejected["event_id"], "--json")
        unknown = await pushr_relay(values, "trace", "order-9999-never", "--since", "1h")

    assert story.code == 0, story.err
    (told,) = story.json_lines()
    assert told["found"] is True
    kinds = [step["kind"] for step in told["steps"]]
    assert kinds == ["accepted", "result", "result", "sent", "delivered", "delivered"]
    # every record about it is in the one partition its key hashes to
    (partition,) = {step["where"].split()[1].split(":")[0] for step in told["steps"]}
    assert int(partition) == told["partition"]
    results = of_type(records, "result", sent["event_id"])
    ids = sorted(r["pushr_message_id"] for r in results)
    assert told["ledger"]["backend"] == "redis"
    batches = told["ledger"]["batches"]
    assert [b["batch_key"] for b in batches] == ["order-4711-ready#0/2", "order-4711-ready#1/2"]
    assert [b["state"] for b in batches] == ["sent", "sent"]
    assert sorted(b["pushr_message_id"] for b in batches) == ids
    assert text.code == 0, text.err
    assert text.out.startswith(f"event {sent['event_id']}: {topics.outbound} partition")
    assert f"Push.R id {ids[0]}" in text.out
    assert "delivery report: Push.R message" in text.out
    assert "ledger (redis):" in text.out
    for number in numbers:  # the story is told masked
        assert number not in text.out
        assert "233" + number[1:] not in text.out

    assert told_rejected.code == 0, told_rejected.err
    (rejection,) = told_rejected.json_lines()
    assert {step["kind"] for step in rejection["steps"]} == {"rejected", "dead_letter"}
    (dead,) = [s for s in rejection["steps"] if s["kind"] == "dead_letter"]
    assert dead["summary"].startswith(f"no_valid_recipients, read from {topics.inbound}")
    assert dead["where"].startswith(topics.dlq)
    assert rejection["ledger"]["batches"] == []  # nothing was planned, nothing claimed
    assert "0302123456" not in told_rejected.out

    assert unknown.code == 1
    assert "nothing published about it since then" in unknown.out
