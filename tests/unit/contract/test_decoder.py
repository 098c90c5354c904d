"""The decoder's rules one by one: limits, sender ids, schedules, templates, recipients."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from service.contract import Accepted, Contract, ContractLimits, Rejection
from service.contract.schemas import MAX_ERRORS

NOW = datetime(2025, 6, 1, tzinfo=UTC).timestamp()


def decode(event: Any, now: float = NOW, **limits: Any) -> Accepted | Rejection:
    base = ContractLimits.defaults()
    return Contract(dataclasses.replace(base, **limits)).decode(orjson.dumps(event), now=now)


def accepted(event: Any, **limits: Any) -> Accepted:
    result = decode(event, **limits)
    assert isinstance(result, Accepted), result
    return result


def rejected(event: Any, reason: str, **limits: Any) -> Rejection:
    result = decode(event, **limits)
    assert isinstance(result, Rejection), result
    assert result.reason == reason, result
    return result


def plain(**fields: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "message": "Hello", "recipients": ["0558544343"], **fields}


def template(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": "t-1",
        "template": "Hi {name}",
        "sender_id": "PYWE",
        "rows": [{"contact": "0558544343", "name": "Ama"}],
        **fields,
    }


def test_minimal_plain_event() -> None:
    result = accepted(plain())
    request = result.request
    assert request.kind == "plain"
    assert request.recipients == ("233558544343",)
    assert request.delivery == "at_most_once"
    assert request.ledger_key == "e-1"
    assert not result.expired


def test_delivery_default_comes_from_the_limits() -> None:
    assert accepted(plain(), delivery_default="at_least_once").request.delivery == "at_least_once"
    assert (
        accepted(plain(delivery="at_most_once"), delivery_default="at_least_once").request.delivery
        == "at_most_once"
    )


def test_recipients_keep_first_position_and_reject_one_by_one() -> None:
    result = accepted(plain(recipients=["0241234567", "0302123456", "0558544343", "+233241234567"]))
    assert result.request.recipients == ("233241234567", "233558544343")
    assert [(r.path, r.reason) for r in result.rejected_recipients] == [
        ("/recipients/1", "not_mobile")
    ]
    assert result.rejected_recipients[0].recipient == "030****456"
    assert any(w.startswith("duplicates_removed: 1 ") for w in result.warnings)


def test_no_recipient_left_rejects_the_event_with_masked_messages() -> None:
    result = rejected(plain(recipients=["0302123456", "+44 7911 123456"]), "no_valid_recipients")
    assert [e.code for e in result.errors] == ["not_mobile", "not_ghana"]
    assert all("7911123456" not in e.message and "2123456" not in e.message for e in result.errors)


def test_errors_are_bounded() -> None:
    result = rejected(plain(recipients=["0302123456"] * 500), "no_valid_recipients")
    assert len(result.errors) == MAX_ERRORS


@pytest.mark.parametrize(
    ("message", "code"), [("", "too_short"), (" \t\n", "blank"), ("a" * 501, "too_long")]
)
def test_message_rules(message: str, code: str) -> None:
    assert rejected(plain(message=message), "invalid_message").errors[0].code == code


def test_message_of_500_characters_is_accepted() -> None:
    assert accepted(plain(message="é" * 500)).estimate.provider_units == 4


@pytest.mark.parametrize("sender", ["PYWE-GHANA-SMS", "", " PYWE", "PYWÉ"])
def test_bad_sender_ids_are_rejected_never_truncated(sender: str) -> None:
    rejected(plain(sender_id=sender), "invalid_sender_id")


def test_sender_id_of_eleven_characters_is_accepted() -> None:
    assert accepted(plain(sender_id="ABCDEFGHIJK")).request.sender_id == "ABCDEFGHIJK"


def test_sender_id_allowlist() -> None:
    allow = frozenset({"PYWE"})
    accepted(plain(sender_id="PYWE"), sender_id_allowlist=allow)
    accepted(plain(), sender_id_allowlist=allow)  # Push.R picks the first approved one
    rejected(plain(sender_id="pywe"), "sender_id_not_allowed", sender_id_allowlist=allow)


def test_limits() -> None:
    rejected(plain(recipients=["0558544343"] * 4), "too_many_recipients", max_recipients=3)
    accepted(plain(recipients=["0558544343"] * 3), max_recipients=3)
    rejected(template(rows=template()["rows"] * 4), "too_many_recipients", max_recipients=3)
    rejected(plain(metadata={"k": "v" * 60}), "metadata_too_large", max_metadata_bytes=64)
    accepted(plain(metadata={"k": "v" * 50}), max_metadata_bytes=64)
    big = orjson.dumps(plain(message="a" * 500, recipients=["0558544343"] * 40))
    contract = Contract(dataclasses.replace(ContractLimits.defaults(), max_event_bytes=1024))
    result = contract.decode(big, now=NOW)
    assert isinstance(result, Rejection)
    assert result.reason == "payload_too_large"


def test_schedule_in_the_future_is_kept_in_utc() -> None:
    result = accepted(plain(scheduled_at="2099-01-20T14:30:00.123456789+02:00"))
    assert result.request.scheduled_at == datetime(2099, 1, 20, 12, 30, 0, 123456, tzinfo=UTC)
    assert result.request.to_json_dict()["scheduled_at"] == "2099-01-20T12:30:00.123456Z"


@pytest.mark.parametrize(
    "value", ["2099-01-20t14:30:00z", "2099-01-20 14:30:00Z", "2099-01-20T14:30:00-00:00"]
)
def test_rfc3339_variants_are_accepted(value: str) -> None:
    assert accepted(plain(scheduled_at=value)).request.scheduled_at is not None


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2099-01-20T14:30:00", "timezone_required"),
        ("2099-01-20", "invalid_datetime"),
        ("tomorrow", "invalid_datetime"),
        ("2099-13-01T00:00:00Z", "invalid_datetime"),
        ("2099-01-20T23:59:60Z", "invalid_datetime"),
        ("0000-01-01T00:00:00Z", "invalid_datetime"),
        ("9999-12-31T23:59:59-01:00", "invalid_datetime"),
        ("0001-01-01T00:00:00+01:00", "invalid_datetime"),
    ],
)
def test_bad_timestamps(value: str, code: str) -> None:
    for field in ("scheduled_at", "expires_at"):
        result = rejected(plain(**{field: value}), "invalid_schedule")
        assert (result.errors[0].path, result.errors[0].code) == (f"/{field}", code)


def test_passed_schedule_follows_the_policy() -> None:
    event = plain(scheduled_at="2025-05-31T23:59:59Z")
    result = accepted(event)
    assert result.request.scheduled_at is None
    assert any(w.startswith("schedule_passed:") for w in result.warnings)
    rejected(event, "schedule_passed", late_schedule_policy="reject")


def test_schedule_at_exactly_now_has_passed() -> None:
    rejected(
        plain(scheduled_at="2025-06-01T00:00:00Z"), "schedule_passed", late_schedule_policy="reject"
    )


def test_expired_event_is_accepted_but_flagged() -> None:
    result = accepted(
        plain(expires_at="2025-05-01T00:00:00Z", scheduled_at="2025-04-01T00:00:00Z"),
        late_schedule_policy="reject",
    )
    assert result.expired
    assert any(w.startswith("expired:") for w in result.warnings)
    assert not accepted(plain(expires_at="2099-01-01T00:00:00Z")).expired


def test_expiry_must_follow_the_schedule() -> None:
    event = plain(scheduled_at="2099-01-01T10:00:00Z", expires_at="2099-01-01T10:00:00Z")
    assert rejected(event, "invalid_schedule").errors[0].code == "expires_before_schedule"


def test_template_rows_are_rendered_checked_and_normalised() -> None:
    result = accepted(
        template(
            template="Hi {name}, {name}! Code {code}",
            rows=[
                {"contact": "0558544343", "name": "Ama", "code": "1", "extra": "kept"},
                {"contact": "0302123456", "name": "Kofi", "code": "2"},
                {"contact": "024 123 4567", "name": "{code}", "code": "3"},
            ],
        )
    )
    request = result.request
    assert request.kind == "template"
    assert request.recipients == ("233558544343", "233241234567")
    assert request.rows[0] == {
        "contact": "233558544343",
        "name": "Ama",
        "code": "1",
        "extra": "kept",
    }
    assert [(r.path, r.reason) for r in result.rejected_recipients] == [
        ("/rows/1/contact", "not_mobile")
    ]
    assert result.estimate.provider_units == 2


def test_template_errors_reject_the_event() -> None:
    missing = rejected(template(rows=[{"contact": "0558544343"}]), "template_invalid")
    assert (missing.errors[0].path, missing.errors[0].code) == ("/rows/0/name", "missing_variable")
    long = rejected(
        template(rows=[{"contact": "0558544343", "name": "a" * 498}]), "template_invalid"
    )
    assert long.errors[0].code == "rendered_too_long"
    blank = rejected(
        template(template="{name}", rows=[{"contact": "0558544343", "name": " "}]),
        "template_invalid",
    )
    assert blank.errors[0].code == "rendered_blank"
    for text in ["Hi {{name}}", "Hi {name", "Hi }", "Hi {0}", "Hi {}", "Hi {first name}"]:
        assert rejected(template(template=text), "template_invalid").errors[0].code == "stray_brace"


def test_template_needs_sender_and_rows_and_excludes_plain_fields() -> None:
    result = rejected({"event_id": "x", "template": "Hi"}, "schema_invalid")
    assert {(e.path, e.code) for e in result.errors} == {
        ("/rows", "required"),
        ("/sender_id", "required"),
    }
    assert rejected(template(sender_id=None), "invalid_sender_id").errors[0].code == "type"
    both = rejected(template(recipients=["0558544343"]), "schema_invalid")
    assert ("/recipients", "not_allowed") in {(e.path, e.code) for e in both.errors}
    rows_only = rejected(plain(rows=[{"contact": "0558544343"}]), "schema_invalid")
    assert ("/rows", "not_allowed") in {(e.path, e.code) for e in rows_only.errors}


def test_business_is_kept_for_templates_and_ignored_for_plain_sends() -> None:
    assert accepted(template(business=7)).request.business == 7
    assert accepted(plain(business=7)).request.business is None


def test_rejection_echoes_well_formed_correlation_fields() -> None:
    result = rejected(
        plain(message="", idempotency_key="k-1", metadata={"tenant": "a"}), "invalid_message"
    )
    assert (result.event_id, result.idempotency_key, result.metadata) == (
        "e-1",
        "k-1",
        {"tenant": "a"},
    )
    broken = rejected({"event_id": " bad id", "metadata": [1]}, "schema_invalid")
    assert (broken.event_id, broken.metadata) == (None, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty_payload"),
        (b"", "empty_payload"),
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"event_id": "\xed\xa0\x80"}', "not_utf8"),  # an encoded surrogate
        (b"{", "not_json"),
        (b"NaN", "not_json"),
        (b'"\\ud800"', "not_json"),
        (b"[]", "not_object"),
        (b"42", "not_object"),
        (b"null", "not_object"),
        (b"{}", "schema_invalid"),
    ],
)
def test_undecodable_payloads(raw: bytes | None, reason: str) -> None:
    result = Contract(ContractLimits.defaults()).decode(raw, now=NOW)
    assert isinstance(result, Rejection)
    assert result.reason == reason


def test_a_utf8_bom_is_tolerated() -> None:
    raw = b"\xef\xbb\xbf" + orjson.dumps(plain())
    assert isinstance(Contract(ContractLimits.defaults()).decode(raw, now=NOW), Accepted)


def test_schema_error_paths_are_json_pointers() -> None:
    result = rejected(plain(recipients=["0558544343", 5, "x"], extra={"a/b": 1}), "schema_invalid")
    assert {(e.path, e.code) for e in result.errors} == {
        ("/recipients/1", "type"),
        ("/extra", "unknown_field"),
    }
    weird = rejected(
        {"event_id": "e", "message": "m", "recipients": ["1"], "a/b~c": 1}, "schema_invalid"
    )
    assert weird.errors[0].path == "/a~1b~0c"


def test_error_messages_never_echo_a_phone_number() -> None:
    event = plain(**{"0558544343": 1}, sender_id="0558544343")
    result = rejected(event, "schema_invalid")
    for error in result.errors:
        assert "0558544343" not in error.path + error.message


@pytest.mark.parametrize("depth", [31, 33, 254, 255, 600, 1020, 1022, 5000])
def test_deep_nesting_is_rejected_not_raised(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    head = b'{"event_id": "e", "message": "m", "recipients": ["0558544343"], '
    contract = Contract(ContractLimits.defaults())
    in_metadata = contract.decode(head + b'"metadata": {"a": ' + nested + b"}}", now=NOW)
    in_unknown_field = contract.decode(head + b'"x": ' + nested + b"}", now=NOW)
    if depth + 2 > 1024:  # with the two enclosing objects, beyond orjson's parser
        assert isinstance(in_metadata, Rejection)
        assert in_metadata.reason == "not_json"
        return
    if depth < 32:
        assert isinstance(in_metadata, Accepted)
    else:
        assert isinstance(in_metadata, Rejection)
        assert (in_metadata.reason, in_metadata.errors[0].code) == (
            "metadata_too_large",
            "too_deep",
        )
    assert isinstance(in_unknown_field, Rejection)
    assert in_unknown_field.reason == "schema_invalid"
