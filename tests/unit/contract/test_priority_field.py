"""The `priority` field: validated, echoed, overridden by a lane topic, and a `critical`
event's default expiry counted from when it was produced."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson

from service.contract import Accepted, BatchSummary, Contract, ContractLimits, Rejection
from service.contract.decoder import peek_priority
from service.contract.events import status_accepted, status_rejected

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC).timestamp()


def contract(**limits: Any) -> Contract:
    return Contract(dataclasses.replace(ContractLimits.defaults(), **limits))


def otp(**fields: object) -> bytes:
    body = {"event_id": "otp-1", "message": "Code 4821", "recipients": ["0558544343"]}
    return orjson.dumps({**body, **fields})


def test_absent_means_normal_and_each_lane_is_kept() -> None:
    assert isinstance(got := contract().decode(otp(), now=NOW), Accepted)
    assert got.request.priority == "normal"
    for lane in ("critical", "normal", "bulk"):
        decoded = contract().decode(otp(priority=lane), now=NOW)
        assert isinstance(decoded, Accepted)
        assert decoded.request.priority == lane


def test_a_critical_event_expires_by_default_from_its_produce_time() -> None:
    produced = NOW - 120  # sat on the topic for two minutes
    decoded = contract().decode(otp(priority="critical"), now=NOW, produced_at=produced)
    assert isinstance(decoded, Accepted)
    assert decoded.request.expires_at == datetime.fromtimestamp(produced + 600, UTC)
    assert any(w.startswith("expiry_defaulted:") for w in decoded.warnings)
    stale = contract().decode(otp(priority="critical"), now=NOW, produced_at=NOW - 601)
    assert isinstance(stale, Accepted)
    assert stale.expired  # a ten-minute-old one-time password is not sent at all


def test_a_given_expiry_and_other_lanes_are_left_alone() -> None:
    given = "2025-06-01T12:00:30Z"
    decoded = contract().decode(otp(priority="critical", expires_at=given), now=NOW)
    assert isinstance(decoded, Accepted)
    assert decoded.request.expires_at == datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)
    bulk = contract().decode(otp(priority="bulk"), now=NOW)
    assert isinstance(bulk, Accepted)
    assert bulk.request.expires_at is None
    off = contract(critical_default_expiry_seconds=0.0).decode(otp(priority="critical"), now=NOW)
    assert isinstance(off, Accepted)
    assert off.request.expires_at is None


def test_a_lane_topic_wins_over_the_field() -> None:
    decoded = contract().decode(otp(priority="critical"), now=NOW, lane="bulk")
    assert isinstance(decoded, Accepted)
    assert decoded.request.priority == "bulk"
    assert decoded.request.expires_at is None
    assert any(w.startswith("priority_overridden:") for w in decoded.warnings)
    same = contract().decode(otp(priority="bulk"), now=NOW, lane="bulk")
    assert isinstance(same, Accepted)
    assert not any(w.startswith("priority_overridden:") for w in same.warnings)


def test_an_unknown_priority_is_rejected_and_status_events_echo_the_lane() -> None:
    bad = contract().decode(otp(priority="urgent"), now=NOW)
    assert isinstance(bad, Rejection)
    assert (bad.reason, bad.errors[0].path) == ("schema_invalid", "/priority")
    assert "priority" not in status_rejected(bad, at=NOW, event_id="otp-1")
    broken = contract().decode(b"{", now=NOW, lane="critical")
    assert isinstance(broken, Rejection)
    assert status_rejected(broken, at=NOW, event_id="x")["priority"] == "critical"
    ok = contract().decode(otp(priority="bulk"), now=NOW)
    assert isinstance(ok, Accepted)
    assert status_accepted(ok, at=NOW, batch_count=1)["priority"] == "bulk"


def test_the_consumer_can_read_the_lane_before_decoding() -> None:
    assert peek_priority(otp(priority="critical")) == "critical"
    assert peek_priority(otp()) == "normal"
    assert peek_priority(b'not json but says "priority"') == "normal"
    assert peek_priority(otp(priority="urgent")) == "normal"
    assert peek_priority(None) == "normal"


def test_expired_batches_decide_the_final_status_only_when_nothing_was_sent() -> None:
    assert BatchSummary.of(["expired", "expired"]).overall() == "expired"
    assert BatchSummary.of(["sent", "expired"]).overall() == "partially_sent"
    assert BatchSummary.of(["rejected", "expired"]).overall() == "failed"
    assert BatchSummary.of(["unknown", "expired"]).overall() == "unknown"
    assert BatchSummary.of(["expired"]).to_json_dict()["expired"] == 1
