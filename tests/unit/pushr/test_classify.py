"""The outcome table, row by row, plus Retry-After parsing and detail scrubbing."""

from __future__ import annotations

import email.utils

import httpx
import orjson
import pytest

from service.contract.masking import mask_numbers_in_text
from service.pushr.classify import classify_exception, classify_response, parse_retry_after
from service.pushr.outcomes import Outcome

NOW = 1_700_000_000.0


def _json(obj: object) -> bytes:
    return orjson.dumps(obj)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (201, _json({"id": 1, "status": "sent"}), Outcome.ACCEPTED),
        (200, _json({"data": [], "count": 0}), Outcome.ACCEPTED),
        (
            400,
            _json({"detail": "Insufficient balance to send messages."}),
            Outcome.INSUFFICIENT_BALANCE,
        ),
        (400, _json({"detail": "INSUFFICIENT BALANCE"}), Outcome.INSUFFICIENT_BALANCE),
        (400, _json({"sender_id": ["Sender ID not approved."]}), Outcome.REJECTED),
        (400, _json({"api_key": ["Invalid or inactive API keys."]}), Outcome.UNAUTHORIZED),
        (400, b"<html>bad</html>", Outcome.REJECTED),
        (404, _json({"detail": "Not found."}), Outcome.REJECTED),
        (413, b"", Outcome.REJECTED),
        (401, _json({"detail": "Invalid API keys."}), Outcome.UNAUTHORIZED),
        (403, b"", Outcome.UNAUTHORIZED),
        (408, b"", Outcome.RETRY_SAFE),
        (429, _json({"detail": "Request was throttled."}), Outcome.RETRY_SAFE),
        (500, b"<html>oops</html>", Outcome.RETRY_SAFE),
        (502, b"", Outcome.RETRY_SAFE),
        (503, b"", Outcome.RETRY_SAFE),
        (504, b"", Outcome.RETRY_SAFE),
        (301, b"", Outcome.RETRY_SAFE),
    ],
)
def test_response_table(status: int, body: bytes, outcome: Outcome) -> None:
    assert classify_response(status, body, now=NOW).outcome is outcome


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (httpx.ConnectError("refused"), Outcome.RETRY_SAFE),
        (httpx.ConnectTimeout("slow connect"), Outcome.RETRY_SAFE),
        (httpx.PoolTimeout("no free connection"), Outcome.RETRY_SAFE),
        (httpx.ProxyError("proxy"), Outcome.RETRY_SAFE),
        (httpx.UnsupportedProtocol("ftp"), Outcome.RETRY_SAFE),
        (httpx.ReadTimeout("no answer"), Outcome.AMBIGUOUS),
        (httpx.WriteTimeout("stalled upload"), Outcome.AMBIGUOUS),
        (httpx.WriteError("broken pipe"), Outcome.AMBIGUOUS),
        (httpx.ReadError("reset"), Outcome.AMBIGUOUS),
        (httpx.RemoteProtocolError("half a response"), Outcome.AMBIGUOUS),
        (RuntimeError("unknown"), Outcome.AMBIGUOUS),
    ],
)
def test_exception_table(exc: BaseException, outcome: Outcome) -> None:
    assert classify_exception(exc) is outcome


def test_retry_after_seconds_and_date() -> None:
    got = classify_response(429, b"", retry_after="7", now=NOW)
    assert got.retry_after == 7.0
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    got = classify_response(503, b"", retry_after=date, now=NOW)
    assert got.retry_after == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("9999", 120.0),
        ("nan", None),
        ("soon", None),
        (email.utils.formatdate(NOW - 60, usegmt=True), 0.0),
        (email.utils.formatdate(NOW + 10_000, usegmt=True), 120.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW, cap=120.0) == expected


def test_retry_after_ignored_outside_retry_rows() -> None:
    assert classify_response(400, b"", retry_after="5", now=NOW).retry_after is None


def test_detail_has_no_number_and_no_key() -> None:
    body = _json({"recipients": ["Invalid number 233558544343 for key sk_live_abcdef123456"]})
    got = classify_response(400, body, now=NOW, secrets=("sk_live_abcdef123456",))
    assert got.outcome is Outcome.REJECTED
    assert "233558544343" not in got.detail
    assert "sk_live_abcdef123456" not in got.detail
    assert "23355****343" in got.detail
    assert got.detail.startswith("HTTP 400: recipients: ")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("233558544343", "23355****343"),
        ("to +233 55 854 4343 now", "to +23355****343 now"),
        ("0558544343", "055****343"),
        ("order 12345 of 3 items", "order 12345 of 3 items"),
    ],
)
def test_mask_numbers(text: str, masked: str) -> None:
    assert mask_numbers_in_text(text) == masked


def test_a_long_detail_is_bounded() -> None:
    got = classify_response(400, _json({"detail": "x" * 1000}), now=NOW)
    assert got.detail == "HTTP 400: " + "x" * 199 + "…"
