"""On call with the real broker, relay and sandbox: a bad release dead-letters a batch of
events; they are listed by reason, looked at, fixed with `--set` and replayed, and each SMS is
sent exactly once even when the replay is repeated. Without the key, replay refuses."""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
import pytest

from service.settings import Settings
from tests.integration.ops_harness import pushr_relay, read_all
from tests.integration.relay_harness import (
    TopicReader,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    relay_values,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.integration

BAD_RELEASE = 4


def finals(records: list[dict[str, Any]], event_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in of_type(records, "status", event_id)
        if r["status"] not in ("accepted", "rejected")
    ]


async def test_a_bad_release_is_listed_fixed_and_replayed_exactly_once(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    key = base64.b64encode(os.urandom(32)).decode()
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        sender_id_allowlist=["PYWE"],
        dlq_keys=f"k1:{key}",
    )
    numbers = phone_numbers(BAD_RELEASE * 2)
    # the bad release: a sender id Push.R was never asked to approve
    bad = [sms_event(numbers[2 * i : 2 * i + 2], sender_id="SHOPNOW") for i in range(BAD_RELEASE)]
    other = b'{"event_id": "broken-1", "recipients": ["0241234567"'  # not JSON: not ours to fix
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        running_relay(Settings.model_validate(values)),
    ):
        await produce(kafka_bootstrap, topics.inbound, [*bad, other])
        await dlq.wait_for(lambda rs: len(rs) >= BAD_RELEASE + 1, within=30)

        listed = await pushr_relay(
            values, "dlq", "list", "--reason", "sender_id_not_allowed", "--json"
        )
        assert listed.code == 0, listed.err
        found = listed.json_lines()
        assert [f["event_id"] for f in found] == [e["event_id"] for e in bad]
        assert {f["original"] for f in found} == {"sealed (k1)"}
        assert {f["reason"] for f in found} == {"sender_id_not_allowed"}
        text = await pushr_relay(values, "dlq", "list")
        assert text.code == 0, text.err
        assert f"{BAD_RELEASE + 1} dead letter(s) on {topics.dlq}" in text.out
        assert "not_json" in text.out

        first = found[0]["dlq"]
        where = f"{first['partition']}:{first['offset']}"
        shown = await pushr_relay(values, "dlq", "show", where)
        assert shown.code == 0, shown.err
        assert orjson.loads(shown.out)["payload_masked"] is True
        assert numbers[0] not in shown.out  # masked by default
        original = await pushr_relay(values, "dlq", "show", where, "--original")
        assert original.code == 0, original.err
        assert orjson.loads(original.out) == bad[0]  # the key holder sees it as it was

        replay = ["dlq", "replay", "--reason", "sender_id_not_allowed", "--set", "sender_id=PYWE"]
        dry = await pushr_relay(values, *replay)
        assert dry.code == 0, dry.err
        assert dry.out.count("would send to") == BAD_RELEASE
        assert "dry run: nothing sent" in dry.out
        assert "Replaying again is safe" in dry.out
        assert not any(n in dry.out for n in numbers)  # what would be sent, masked
        assert len(await read_all(kafka_bootstrap, topics.inbound)) == BAD_RELEASE + 1

        sent = await pushr_relay(values, *replay, "--yes")
        assert sent.code == 0, sent.err
        assert sent.out.count(f"sent to {topics.inbound}") == BAD_RELEASE
        await out.wait_for(lambda rs: all(len(finals(rs, e["event_id"])) == 1 for e in bad))
        for number in numbers:
            assert sandbox.traffic.sends_for(international(number)) == 1

        again = await pushr_relay(values, *replay, "--yes")
        assert again.code == 0, again.err
        records = await out.wait_for(
            lambda rs: all(len(finals(rs, e["event_id"])) == 2 for e in bad)
        )

    for number in numbers:  # replayed twice, sent once
        assert sandbox.traffic.sends_for(international(number)) == 1
    assert sandbox.traffic.duplicate_sends() == []
    for event in bad:
        first_final, second_final = finals(records, event["event_id"])
        assert (first_final["status"], second_final["status"]) == ("sent", "sent")
        results = of_type(records, "result", event["event_id"])
        assert [r["replayed"] for r in results] == [False, True]
        assert results[0]["pushr_message_id"] == results[1]["pushr_message_id"]
    inbound = await read_all(kafka_bootstrap, topics.inbound)
    replayed = [r for r in inbound if r.offset > BAD_RELEASE]
    assert len(replayed) == 2 * BAD_RELEASE
    sources = {f"{topics.dlq}:{f['dlq']['partition']}:{f['dlq']['offset']}" for f in found}
    for record in replayed:
        headers = dict(record.headers)
        assert headers["pushr-replay-of"].decode() in sources
        assert orjson.loads(record.value)["sender_id"] == "PYWE"
        assert record.key == orjson.loads(record.value)["event_id"].encode()


async def test_without_the_key_replay_refuses_and_says_why(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    key = base64.b64encode(os.urandom(32)).decode()
    sealing = relay_values(kafka_bootstrap, sandbox, topics, dlq_keys=f"k1:{key}")
    bad = sms_event(phone_numbers(1), sender_id="SENDER-ID-TOO-LONG")
    async with (
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        running_relay(Settings.model_validate(sealing)),
    ):
        await produce(kafka_bootstrap, topics.inbound, [bad])
        await dlq.wait_for(lambda rs: len(rs) >= 1, within=30)

    keyless = {k: v for k, v in sealing.items() if k != "dlq_keys"}
    refused = await pushr_relay(keyless, "dlq", "replay", "--yes")
    assert refused.code == 1
    assert (
        "0:0: not replayed: the original is sealed with key 'k1': set PUSHR_RELAY_DLQ_KEYS"
    ) in refused.out
    assert "sent 0 of 1" in refused.out
    original = await pushr_relay(keyless, "dlq", "show", "0:0", "--original")
    assert original.code == 1
    assert "sealed with key 'k1'" in original.err
    assert len(await read_all(kafka_bootstrap, topics.inbound)) == 1  # nothing was sent


async def test_dead_letters_written_without_a_key_cannot_be_replayed(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    values = relay_values(kafka_bootstrap, sandbox, topics)
    async with (
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        running_relay(Settings.model_validate(values)),
    ):
        await produce(kafka_bootstrap, topics.inbound, [sms_event([], event_id="empty-1")])
        (record,) = await dlq.wait_for(lambda rs: len(rs) >= 1, within=30)
    assert "original_sealed" not in record  # as before keys existed
    key = base64.b64encode(os.urandom(32)).decode()
    refused = await pushr_relay({**values, "dlq_keys": f"k1:{key}"}, "dlq", "replay")
    assert refused.code == 1
    assert "only a masked copy was kept: the relay that wrote it had no" in refused.out
