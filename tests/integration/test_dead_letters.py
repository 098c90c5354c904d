"""Every dead-letter reason on the real DLQ topic, from the schema's own invalid examples,
and the consumer still serving the valid event produced after them."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson
import pytest

from tests.integration.relay_harness import (
    REPO_ROOT,
    TopicReader,
    all_final,
    final_state,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.integration

INVALID = REPO_ROOT / "schemas" / "examples" / "invalid"
# One relay runs every example, so the limits of schemas/examples/limits.json are merged.
# The recipient limit is left out: at 3 it would turn the no-valid-recipients example (8
# recipients) into too_many_recipients; that reason is proven below with its own event.
LIMITS = {
    "max_event_bytes": 1024,
    "sender_id_allowlist": ["PYWE", "PARCELS"],
    "late_schedule_policy": "reject",
    "max_metadata_bytes": 64,
    "max_recipients": 20,
}
# phone-number-like runs in the inputs: none may come out whole
_PHONE_LIKE = re.compile(r"\+?\d[\d \-().]{7,}\d")


def examples() -> list[tuple[str, bytes]]:
    found = [
        (path.name.split("--")[0], path.read_bytes())
        for path in sorted(INVALID.iterdir())
        if not path.name.startswith("too_many_recipients")
    ]
    assert {reason for reason, _ in found} >= {
        "not_utf8",
        "not_json",
        "not_object",
        "schema_invalid",
        "no_valid_recipients",
        "payload_too_large",
    }
    return found


def shown(record: dict[str, Any]) -> str:
    """The record as a reader sees it: its JSON text with the payload decoded."""
    payload = base64.b64decode(record["payload_base64"]).decode("utf-8", "replace")
    rest = {k: v for k, v in record.items() if k not in ("payload_base64", "payload_sha256")}
    return f"{rest} {payload}"


async def test_each_dlq_reason_lands_on_the_dlq_and_the_consumer_keeps_going(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    cases = examples()
    too_many = sms_event(phone_numbers(21), event_id="too-many-1")
    cases.append(("too_many_recipients", orjson.dumps(too_many)))
    good_numbers = phone_numbers(2)
    good = sms_event(good_numbers)
    settings = relay_settings(kafka_bootstrap, sandbox, topics, **LIMITS)
    async with (
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [raw for _, raw in cases])
        await produce(kafka_bootstrap, topics.inbound, [good])
        dead = await dlq.wait_for(lambda rs: len(rs) >= len(cases), within=30)
        records = await out.wait_for(all_final([good["event_id"]]), within=30)
        await relay.stop()
        for reason in {reason for reason, _ in cases}:
            expected = sum(1 for r, _ in cases if r == reason)
            labels = {"reason": reason}
            assert relay.metric("pushr_relay_events_dead_lettered_total", labels) == expected

    assert len(dead) == len(cases)  # one dead letter each, none for the good event
    assert [d["reason"] for d in dead] == [reason for reason, _ in cases]
    rejected = of_type(records, "status")
    for offset, ((reason, raw), record) in enumerate(zip(cases, dead, strict=True)):
        assert record["source"] == {**record["source"], "topic": topics.inbound, "offset": offset}
        assert record["payload_sha256"] == hashlib.sha256(raw).hexdigest()
        assert record["payload_size"] == len(raw)
        assert record["errors"], reason
        text = shown(record)
        for token in _PHONE_LIKE.findall(raw.decode("utf-8", "replace")):
            digits = re.sub(r"\D", "", token)
            if len(digits) >= 9:
                assert token not in text, (reason, token)
                assert digits not in text, (reason, token)
        # producers learn of it on the outbound topic too, under the id or a stand-in
        event_id = record["event_id"] or f"unknown:{topics.inbound}:0:{offset}"
        (status,) = [s for s in rejected if s["event_id"] == event_id]
        assert (status["status"], status["reason"]) == ("rejected", reason)

    assert final_state(records, good["event_id"]) == "sent"
    for number in good_numbers:
        assert sandbox.traffic.sends_for(international(number)) == 1
    assert sandbox.traffic.accepted_sends == 2  # nothing invalid reached Push.R
