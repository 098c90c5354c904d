"""Outbound events and dead-letter records match their schemas and leak nothing."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from service.contract import (
    Accepted,
    BatchSummary,
    Contract,
    ContractLimits,
    Rejection,
    build_dlq_record,
    build_result_event,
    build_status_event,
    replay_result,
    status_accepted,
    status_expired,
    status_rejected,
    unknown_event_id,
)
from service.contract.schemas import DLQ_RECORD, RESULT, STATUS, schema_errors

NOW = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
CONTRACT = Contract(ContractLimits.defaults())


def assert_valid(schema: str, instance: dict[str, Any]) -> None:
    assert schema_errors(schema, instance) == []


def result_event(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": "e-1",
        "idempotency_key": None,
        "batch_index": 0,
        "batch_count": 2,
        "batch_key": "e-1#0/2",
        "outcome": "sent",
        "recipients": ["233558544343", "233241234567"],
        "provider_units": 2,
        "attempts": 1,
        "latency_ms": 12.3456,
        "produced_at": NOW,
        "pushr_message_id": 123,
        "pushr_status": "sent",
        "cost": "2.50",
        "http_status": 201,
        "metadata": {"tenant": "a"},
    }
    fields.update(overrides)
    return build_result_event(**fields)


def test_result_event() -> None:
    event = result_event()
    assert_valid(RESULT, event)
    assert event["recipients"] == ["23355****343", "23324****567"]
    assert event["recipients_count"] == 2
    assert event["produced_at"] == "2025-06-01T00:00:00.000Z"
    assert event["latency_ms"] == 12.346


@pytest.mark.parametrize(
    ("cost", "expected"),
    [("2.50", "2.50"), (2.5, "2.5"), (3, "3"), ("abc", None), (float("nan"), None), (None, None)],
)
def test_result_cost_is_a_decimal_string_or_null(cost: Any, expected: str | None) -> None:
    event = result_event(cost=cost)
    assert event["cost"] == expected
    assert_valid(RESULT, event)


def test_result_detail_is_masked_and_bounded_and_odd_values_are_tamed() -> None:
    event = result_event(
        outcome="unknown",
        detail="timeout talking about 0558544343 " + "x" * 2000,
        http_status=0,
        pushr_message_id=None,
        pushr_status="P" * 100,
        latency_ms=-1.0,
        attempts=0,
    )
    assert_valid(RESULT, event)
    assert "0558544343" not in event["detail"]
    assert event["http_status"] is None


def test_replayed_result() -> None:
    event = replay_result(result_event(), produced_at=NOW + 60)
    assert_valid(RESULT, event)
    assert event["replayed"] is True
    assert event["produced_at"] == "2025-06-01T00:01:00.000Z"


@pytest.mark.parametrize(
    ("outcomes", "total", "status"),
    [
        (["sent", "sent"], None, "sent"),
        (["scheduled", "scheduled"], None, "scheduled"),
        (["sent", "failed"], None, "partially_sent"),
        (["sent", "rejected"], None, "partially_sent"),
        (["rejected", "failed"], None, "failed"),
        (["sent", "unknown"], None, "unknown"),
        (["sent"], 2, "partially_sent"),
    ],
)
def test_batch_summary(outcomes: list[Any], total: int | None, status: str) -> None:
    summary = BatchSummary.of(outcomes, total)
    assert summary.overall() == status
    event = build_status_event(
        event_id="e", idempotency_key=None, status=summary.overall(), at=NOW, batches=summary
    )
    assert_valid(STATUS, event)


def _accepted(event: dict[str, Any]) -> Accepted:
    result = CONTRACT.decode(orjson.dumps(event), now=NOW)
    assert isinstance(result, Accepted)
    return result


def test_status_accepted_and_expired() -> None:
    result = _accepted(
        {
            "event_id": "e",
            "message": "GH₵ 5",
            "recipients": ["0558544343", "0302123456"],
            "metadata": {"k": 1},
            "expires_at": "2020-01-01T00:00:00Z",
        }
    )
    event = status_accepted(result, at=NOW, batch_count=1)
    assert_valid(STATUS, event)
    assert (event["recipients_accepted"], event["recipients_rejected"]) == (1, 1)
    assert event["rejected_recipients"][0]["recipient"] == "030****456"
    assert event["batches"]["total"] == 1
    expired = status_expired(result, at=NOW)
    assert_valid(STATUS, expired)
    assert (expired["status"], expired["reason"]) == ("expired", "expired")


def test_status_rejected_with_and_without_event_id() -> None:
    result = CONTRACT.decode(
        orjson.dumps({"event_id": "e", "message": " ", "recipients": ["1"], "metadata": {"m": 1}}),
        now=NOW,
    )
    assert isinstance(result, Rejection)
    event = status_rejected(result, at=NOW, event_id=result.event_id or "?")
    assert_valid(STATUS, event)
    assert (event["reason"], event["metadata"]) == ("invalid_message", {"m": 1})
    assert event["detail"] == "/message: must contain more than whitespace"
    broken = CONTRACT.decode(b"\xff", now=NOW)
    assert isinstance(broken, Rejection)
    event = status_rejected(broken, at=NOW, event_id=unknown_event_id("sms.requests", 3, 42))
    assert_valid(STATUS, event)
    assert event["event_id"] == "unknown:sms.requests:3:42"


def _dlq(raw: bytes | None, **kwargs: Any) -> dict[str, Any]:
    rejection = CONTRACT.decode(raw, now=NOW)
    assert isinstance(rejection, Rejection)
    record = build_dlq_record(
        raw,
        topic="sms.requests",
        partition=1,
        offset=7,
        timestamp_ms=kwargs.pop("timestamp_ms", 1_717_200_000_123),
        rejection=rejection,
        now=NOW,
        **kwargs,
    )
    assert_valid(DLQ_RECORD, record)
    return record


def test_dlq_record_of_json_masks_numbers_and_drops_secrets() -> None:
    raw = orjson.dumps(
        {
            "event_id": "e-9",
            "message": "Call 0558544343",
            "recipients": ["0302123456", 233558544343],
            "api_key_secret": "s3cr3t",
            "metadata": {"token": "abc", "ok": 1},
        }
    )
    record = _dlq(raw)
    payload = base64.b64decode(record["payload_base64"])
    assert orjson.loads(payload) == {
        "event_id": "e-9",
        "message": "Call 055****343",
        "recipients": ["030****456", "23355****343"],
        "metadata": {"ok": 1},
    }
    assert record["payload_masked"] is True
    assert record["payload_sha256"] == hashlib.sha256(raw).hexdigest()
    assert record["payload_size"] == len(raw)
    assert record["reason"] == "schema_invalid"
    assert record["event_id"] == "e-9"
    assert record["source"] == {
        "topic": "sms.requests",
        "partition": 1,
        "offset": 7,
        "timestamp": "2024-06-01T00:00:00.123Z",
    }
    assert record["dead_lettered_at"] == "2025-06-01T00:00:00.000Z"


def test_dlq_record_keeps_clean_bytes_exactly() -> None:
    raw = b'{ "event_id": "e", "message": "" ,"recipients": ["x"] }'
    record = _dlq(raw)
    assert base64.b64decode(record["payload_base64"]) == raw
    assert record["payload_masked"] is False


def test_dlq_record_of_broken_bytes() -> None:
    raw = b'{"api_key_secret": "s3cr3t", "message": "caf\xe9", "recipients": ["0558544343"'
    record = _dlq(raw, timestamp_ms=-1)
    payload = base64.b64decode(record["payload_base64"])
    assert b"s3cr3t" not in payload
    assert b"0558544343" not in payload
    assert b"caf\xe9" in payload  # the bad byte the producer must see is kept
    assert record["reason"] == "not_utf8"
    assert record["source"]["timestamp"] is None


def test_dlq_record_of_an_empty_or_huge_payload() -> None:
    assert _dlq(None)["payload_base64"] == ""
    huge = b"[" + b"1," * 800_000 + b"1]"
    record = build_dlq_record(
        huge,
        topic="t",
        partition=0,
        offset=0,
        timestamp_ms=None,
        rejection=Rejection("payload_too_large", [], None),
        now=NOW,
        max_payload_bytes=1000,
    )
    assert_valid(DLQ_RECORD, record)
    assert record["payload_truncated"] is True
    assert len(base64.b64decode(record["payload_base64"])) == 1000
    assert record["payload_size"] == len(huge)


@pytest.mark.parametrize("depth", [300, 990, 1023])
def test_dlq_record_of_deeply_nested_json(depth: int) -> None:
    raw = b'{"event_id": "e", "x": ' + b"[" * depth + b'"0558544343"' + b"]" * depth + b"}"
    record = _dlq(raw)
    assert b"0558544343" not in base64.b64decode(record["payload_base64"])
