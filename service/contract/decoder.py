"""Bytes of one Kafka message in, an accepted request or a rejection out.

    bytes ─► size ─► JSON (orjson) ─► object ─► schema (jsonschema-rs) ─► accept

`service.contract.accept` takes a schema-valid object through the remaining named steps.
The first failing step names the rejection reason. Nothing here raises on bad input, reads
the clock or does I/O: the caller passes `now` and decides what a rejection becomes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final, cast

import orjson

from service.contract.accept import IDENTIFIER, accept, echo_fields
from service.contract.model import (
    EMPTY_PAYLOAD,
    INVALID_MESSAGE,
    INVALID_SCHEDULE,
    INVALID_SENDER_ID,
    NOT_JSON,
    NOT_OBJECT,
    NOT_UTF8,
    PAYLOAD_TOO_LARGE,
    SCHEMA_INVALID,
    TEMPLATE_INVALID,
    Accepted,
    ContractLimits,
    FieldError,
    Rejection,
)
from service.contract.schemas import REQUEST, compiled, schema_errors
from service.priority import DEFAULT_PRIORITY, PRIORITIES, Priority

_BOM: Final = b"\xef\xbb\xbf"
# A schema error on one of these fields names a more telling reason than schema_invalid.
_REASON_BY_FIELD: Final = {
    "message": INVALID_MESSAGE,
    "sender_id": INVALID_SENDER_ID,
    "scheduled_at": INVALID_SCHEDULE,
    "expires_at": INVALID_SCHEDULE,
    "template": TEMPLATE_INVALID,
    "rows": TEMPLATE_INVALID,
}
# ...unless the error is about the event's shape rather than the field's value.
_STRUCTURAL_CODES: Final = frozenset({"required", "not_allowed", "unknown_field"})


def _reason_for(errors: list[FieldError]) -> str:
    reasons = {
        SCHEMA_INVALID
        if e.code in _STRUCTURAL_CODES
        else _REASON_BY_FIELD.get(e.path.split("/")[1] if e.path else "", SCHEMA_INVALID)
        for e in errors
    }
    return reasons.pop() if len(reasons) == 1 else SCHEMA_INVALID


def _event_id(obj: dict[str, Any]) -> str | None:
    value = obj.get("event_id")
    return value if isinstance(value, str) and IDENTIFIER.fullmatch(value) else None


class Contract:
    """The inbound contract with its limits; build once, call `decode` per message."""

    def __init__(self, limits: ContractLimits) -> None:
        self.limits = limits
        self._validator = compiled(REQUEST)  # compiled here, once, not per message

    def decode(
        self,
        raw: bytes | None,
        *,
        now: float,
        produced_at: float | None = None,
        lane: Priority | None = None,
    ) -> Accepted | Rejection:
        """`produced_at`: the record's timestamp (epoch seconds), from which a `critical`
        event's default expiry runs; `lane`: the lane of a lane topic, which wins over the
        event's `priority`."""
        decoded = self._decode(raw, now, produced_at, lane)
        if isinstance(decoded, Rejection) and lane is not None:
            return dataclasses.replace(decoded, priority=lane)
        return decoded

    def _decode(
        self, raw: bytes | None, now: float, produced_at: float | None, lane: Priority | None
    ) -> Accepted | Rejection:
        if not raw:
            return Rejection(EMPTY_PAYLOAD, [FieldError("", "empty", "the payload is empty")], None)
        if len(raw) > self.limits.max_event_bytes:
            return Rejection(
                PAYLOAD_TOO_LARGE,
                [
                    FieldError(
                        "",
                        "too_large",
                        f"is {len(raw)} bytes; the limit is {self.limits.max_event_bytes}",
                    )
                ],
                None,
            )
        if raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                return Rejection(
                    NOT_UTF8,
                    [FieldError("", "not_utf8", f"invalid UTF-8 at byte {bad.start}")],
                    None,
                )
            where = f"line {exc.lineno} column {exc.colno}"
            return Rejection(NOT_JSON, [FieldError("", "not_json", f"{exc.msg} ({where})")], None)
        if not isinstance(obj, dict):
            kind = "an array" if isinstance(obj, list) else f"a {type(obj).__name__} value"
            return Rejection(
                NOT_OBJECT, [FieldError("", "type", f"must be a JSON object, not {kind}")], None
            )
        event_id = _event_id(obj)
        if not self._validator.is_valid(obj):
            try:
                errors = schema_errors(REQUEST, obj)
            except ValueError:  # jsonschema-rs cannot report on very deep nesting
                errors = []
            errors = errors or [FieldError("", "invalid", "does not match the schema")]
            echo = echo_fields(obj, self.limits)
            return Rejection(
                _reason_for(errors), errors, event_id, echo.idempotency_key, echo.metadata
            )
        assert event_id is not None  # the schema requires a well-formed one
        return accept(obj, event_id, now, self.limits, produced_at=produced_at, lane=lane)


def peek_priority(raw: bytes | None) -> Priority:
    """The `priority` an event asks for, read before it is decoded (the consumer's choice of
    which fetched record starts first); anything unreadable counts as `normal`, and
    `Contract.decode` then rejects it as usual."""
    if not raw or b'"priority"' not in raw:
        return DEFAULT_PRIORITY
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return DEFAULT_PRIORITY
    field = obj.get("priority") if isinstance(obj, dict) else None
    return cast(Priority, field) if field in PRIORITIES else DEFAULT_PRIORITY
