"""The outcome table: what a Push.R answer (or a failure to get one) means for the batch.

Pure functions, no I/O, so the whole table is tested row by row.

| answer                                        | outcome              | retried by client |
|-----------------------------------------------|----------------------|-------------------|
| 2xx                                           | ACCEPTED             | -                 |
| 400 "insufficient balance"                    | INSUFFICIENT_BALANCE | no (engine pauses)|
| 400 field error on `api_key*`                 | UNAUTHORIZED         | no                |
| other 400, 404, other 4xx                     | REJECTED             | no                |
| 401, 403                                      | UNAUTHORIZED         | no                |
| 408, 429, 5xx, 1xx/3xx                        | RETRY_SAFE           | yes, Retry-After  |
| ConnectError/ConnectTimeout/PoolTimeout/Proxy | RETRY_SAFE           | yes               |
| ReadTimeout, WriteTimeout, ReadError,         | AMBIGUOUS            | no (engine decides|
| WriteError, RemoteProtocolError, unknown      |                      |  by delivery mode)|

A 400 `{"api_key": ["Invalid or inactive API keys."]}` is a credentials problem, not a bad
batch: rejecting it would drop every message while the keys are wrong, so it stops sending
like a 401. 3xx/1xx mean Push.R did not process the request (we never follow redirects):
they point at a misconfigured base URL, which must not turn into dropped batches either.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import httpx
import orjson

from service.contract.masking import safe_detail
from service.pushr.breaker import Verdict
from service.pushr.outcomes import Outcome


class Classification(NamedTuple):
    outcome: Outcome
    detail: str
    retry_after: float | None


# Never sent for certain: the connection was not established, or no connection was free.
# Or nothing left the process: the request could not even be formed.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


def parse_retry_after(value: str | None, *, now: float, cap: float) -> float | None:
    """`Retry-After` as seconds from `now` (delta-seconds or an HTTP-date), at most `cap`."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; obsolete forms parse as naive
            return None
        seconds = when.timestamp() - now
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


def _body_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _error_text(parsed: Any) -> str:
    """DRF errors: `{"detail": "..."}` or `{"field": ["message", ...]}`."""
    if not isinstance(parsed, dict):
        return ""
    detail = parsed.get("detail")
    if isinstance(detail, str):
        return detail
    parts = []
    for field, messages in parsed.items():
        items = messages if isinstance(messages, list) else [messages]
        parts.append(f"{field}: {' '.join(str(m) for m in items)}")
    return "; ".join(parts)


def _is_key_error(parsed: Any) -> bool:
    return isinstance(parsed, dict) and any(
        isinstance(k, str) and k.startswith("api_key") for k in parsed
    )


def classify_response(
    status: int,
    body: bytes,
    *,
    retry_after: str | None = None,
    now: float = 0.0,
    retry_after_cap: float = 120.0,
    secrets: Iterable[str] = (),
) -> Classification:
    """Classify a complete HTTP answer. `retry_after` is the raw header; `now` (epoch
    seconds) resolves an HTTP-date; `secrets` are scrubbed from the detail."""
    if 200 <= status < 300:
        return Classification(Outcome.ACCEPTED, "", None)

    parsed = _body_json(body)
    text = _error_text(parsed)
    detail = f"HTTP {status}: {safe_detail(text, secrets)}" if text else f"HTTP {status}"

    if status == 400:
        if "insufficient balance" in text.lower():
            return Classification(Outcome.INSUFFICIENT_BALANCE, detail, None)
        if _is_key_error(parsed):
            return Classification(Outcome.UNAUTHORIZED, detail, None)
        return Classification(Outcome.REJECTED, detail, None)
    if status in (401, 403):
        return Classification(Outcome.UNAUTHORIZED, detail, None)
    if status in (408, 429) or not 400 <= status < 500:
        wait = parse_retry_after(retry_after, now=now, cap=retry_after_cap)
        return Classification(Outcome.RETRY_SAFE, detail, wait)
    return Classification(Outcome.REJECTED, detail, None)


def classify_exception(exc: BaseException) -> Outcome:
    """Classify a failure to get a complete answer.

    Once the request may have been written, only AMBIGUOUS is honest: Push.R has no
    idempotency key, so a resend could send (and charge) the SMS twice. WriteTimeout and
    WriteError count as ambiguous too: part of the body may have left, and we cannot
    prove the server did not act on it. Anything unrecognised is ambiguous as well.
    """
    if isinstance(exc, _NOT_SENT):
        return Outcome.RETRY_SAFE
    return Outcome.AMBIGUOUS


def accepted_body(
    content: bytes, accepted: Classification
) -> tuple[dict[str, Any] | None, Classification]:
    """The JSON object of a 2xx answer; still ACCEPTED without one, since a 2xx means Push.R
    took (and charged) the request."""
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed, accepted
    return None, accepted._replace(detail="2xx without a JSON object body")


def breaker_verdict(outcome: Outcome, status: int | None) -> Verdict:
    """What an answer tells the endpoint's breaker."""
    if status == 429:
        return Verdict.NEUTRAL  # flow control, not a broken endpoint (see breaker.py)
    if outcome in (Outcome.RETRY_SAFE, Outcome.AMBIGUOUS):
        return Verdict.FAILURE
    return Verdict.SUCCESS
