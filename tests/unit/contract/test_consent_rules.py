"""The pure consent rules: opt-out records, scopes, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from service.contract.consent import (
    BadNumber,
    OptOut,
    blocks,
    build_optout,
    decode_optout,
    number_digest,
)
from service.contract.quiet_hours import QuietHours
from service.contract.schemas import OPTOUT, is_valid

AT = 1_800_000_000.0


def test_a_record_is_normalised_like_an_event_recipient_and_valid() -> None:
    made = build_optout("+233 55 854 4343", opted_out=True, scope="bulk", at=AT, source="web")
    assert isinstance(made, OptOut)
    assert made.number == "233558544343"
    key, value = made.encode()
    assert key == b"233558544343"
    assert is_valid(OPTOUT, orjson.loads(value))
    assert decode_optout(key, value) == made


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("0302123456", "not_mobile"), ("hello", "invalid_format"), ("+44 20 7946 0958", "not_ghana")],
)
def test_bad_numbers_get_the_reasons_validate_gives(raw: str, reason: str) -> None:
    made = build_optout(raw, opted_out=True, scope="all", at=AT, source="web")
    assert isinstance(made, BadNumber)
    assert made.reason == reason
    assert raw not in made.masked or not any(c.isdigit() for c in raw)


def test_a_tombstone_takes_the_number_off() -> None:
    decoded = decode_optout(b"233558544343", None)
    assert isinstance(decoded, OptOut)
    assert decoded.opted_out is False


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"233558544343", b"{not json"),
        (b"233558544343", b'{"number": "233558544343", "opted_out": true}'),
        (
            b"233201234567",
            OptOut("233558544343", True, "all", "2026-01-01T00:00:00Z", "x").encode()[1],
        ),
        (b"nonsense", None),
    ],
)
def test_unusable_records_say_why_without_the_number(key: bytes, value: bytes | None) -> None:
    problem = decode_optout(key, value)
    assert isinstance(problem, str)
    assert "558544343" not in problem
    assert "201234567" not in problem


def test_scopes() -> None:
    assert blocks("all", "critical")
    assert blocks("all", "normal")
    assert blocks("all", "bulk")
    assert blocks("bulk", "bulk")
    assert not blocks("bulk", "critical")
    assert not blocks("bulk", "normal")
    assert not blocks(None, "bulk")


def test_the_digest_is_stable_and_hides_the_number() -> None:
    assert number_digest("233558544343") == number_digest("233558544343")
    assert "558544343" not in number_digest("233558544343")
    assert number_digest("233558544343") != number_digest("233558544342")


ACCRA = QuietHours.parse("20:00-08:00", "Africa/Accra")


def utc(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (utc(19, 59), utc(19, 59)),  # Accra is UTC+0 all year
        (utc(20, 0), utc(8, 0, day=21)),
        (utc(23, 30), utc(8, 0, day=21)),
        (utc(3, 0), utc(8, 0)),
        (utc(8, 0), utc(8, 0)),
    ],
)
def test_quiet_hours_across_midnight(at: datetime, allowed: datetime) -> None:
    assert ACCRA.next_allowed(at) == allowed
    assert ACCRA.contains(at) == (allowed != at)


def test_a_window_within_a_day_in_another_zone() -> None:
    lagos = QuietHours.parse("13:00-14:00", "Africa/Lagos")  # UTC+1
    assert lagos.contains(utc(12, 30))
    assert lagos.next_allowed(utc(12, 30)) == utc(13, 0)
    assert not lagos.contains(utc(13, 0))


@pytest.mark.parametrize(
    ("window", "zone"),
    [
        ("8pm-8am", "Africa/Accra"),
        ("20:00-20:00", "Africa/Accra"),
        ("20:00-08:00", "Mars/Base"),
    ],
)
def test_windows_that_cannot_work_are_refused(window: str, zone: str) -> None:
    with pytest.raises(ValueError, match=r"quiet hours|time zone"):
        QuietHours.parse(window, zone)
