"""Every record the relay writes names its content type, event type and schema in headers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from service.contract.schemas import DLQ_RECORD, RESULT, STATUS, load_schema
from service.pipeline.publish import Publisher, outbound_headers

REPO = Path(__file__).resolve().parents[3]


class RecordingProducer:
    """Stands in for AIOKafkaProducer (a unit-test seam): keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, **record: Any) -> asyncio.Future[Any]:
        self.sent.append({"topic": topic, **record})
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_headers_name_the_type_and_the_schema_of_each_record() -> None:
    producer = RecordingProducer()
    publisher = Publisher(producer, "out", "dlq")
    await publisher.event("e-1", {"type": "result", "event_id": "e-1"})
    await publisher.event("e-1", {"type": "status", "event_id": "e-1"})
    await publisher.dead_letter(None, {"type": "dead_letter"})
    sent = [(r["topic"], r["key"], dict(r["headers"])) for r in producer.sent]
    expected_schema = {
        "result": load_schema(RESULT)["$id"],
        "status": load_schema(STATUS)["$id"],
        "dead_letter": load_schema(DLQ_RECORD)["$id"],
    }
    assert [(topic, key) for topic, key, _ in sent] == [
        ("out", b"e-1"),
        ("out", b"e-1"),
        ("dlq", None),
    ]
    for (_, _, headers), event_type in zip(sent, expected_schema, strict=True):
        assert headers == {
            "content-type": b"application/json",
            "pushr-event-type": event_type.encode(),
            "pushr-schema-id": expected_schema[event_type].encode(),
        }
    assert "traceparent" not in str(sent)  # tracing is off unless configured


async def test_a_value_of_another_type_still_says_it_is_json() -> None:
    producer = RecordingProducer()
    await Publisher(producer, "out", "dlq").send("elsewhere", "k", {"x": 1})
    assert producer.sent[0]["headers"] == [("content-type", b"application/json")]


def test_asyncapi_documents_the_headers_as_published() -> None:
    document = yaml.safe_load((REPO / "schemas" / "asyncapi.yaml").read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    messages = document["components"]["messages"]
    for message, event_type in (
        ("smsResult", "result"),
        ("smsStatus", "status"),
        ("deadLetter", "dead_letter"),
    ):
        ref = messages[message]["headers"]["$ref"].rsplit("/", 1)[-1]
        documented = {k: v["const"] for k, v in schemas[ref]["properties"].items() if "const" in v}
        published = {k: v.decode() for k, v in outbound_headers()[event_type]}
        assert documented == published
