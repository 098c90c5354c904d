"""Bytes of one Kafka message in, an accepted request or a rejection out.

    bytes ─► size ─► JSON (orjson) ─► object ─► schema (jsonschema-rs) ─► limits ─► sender
          ─► schedule ─► message / template ─► recipients ─► expiry & late schedule ─► Accepted

The first failing step names the rejection reason. Nothing here raises on bad input, reads
the clock or does I/O: the caller passes `now` and decides what a rejection becomes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

import orjson

from service.contract.masking import mask_phone
from service.contract.model import (
    EMPTY_PAYLOAD,
    INVALID_MESSAGE,
    INVALID_SCHEDULE,
    INVALID_SENDER_ID,
    METADATA_TOO_LARGE,
    NO_VALID_RECIPIENTS,
    NOT_JSON,
    NOT_OBJECT,
    NOT_UTF8,
    PAYLOAD_TOO_LARGE,
    SCHEDULE_PASSED,
    SCHEMA_INVALID,
    SENDER_ID_NOT_ALLOWED,
    TEMPLATE_INVALID,
    TOO_MANY_RECIPIENTS,
    Accepted,
    ContractLimits,
    FieldError,
    RejectedRecipient,
    Rejection,
    SmsRequest,
)
from service.contract.normalise import (
    check_message,
    estimate,
    normalise_recipients,
    parse_timestamp,
    renderer,
    template_variables,
    ucs2_warning,
)
from service.contract.phones import REASON_TEXT, normalise_phone
from service.contract.schemas import MAX_ERRORS, REQUEST, compiled, schema_errors

_BOM: Final = b"\xef\xbb\xbf"
# Metadata is echoed inside every outbound event, and orjson refuses to serialise more than
# 254 levels, so a deep metadata would break publishing long after it was accepted.
MAX_METADATA_DEPTH: Final = 32
_IDENTIFIER: Final = re.compile(r"[!-~]{1,128}")
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
    return value if isinstance(value, str) and _IDENTIFIER.fullmatch(value) else None


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _recipient_errors(rejected: list[RejectedRecipient]) -> list[FieldError]:
    return [
        FieldError(r.path, r.reason, f"{r.recipient}: {REASON_TEXT.get(r.reason, r.reason)}")
        for r in rejected[:MAX_ERRORS]
    ]


class Contract:
    """The inbound contract with its limits; build once, call `decode` per message."""

    def __init__(self, limits: ContractLimits) -> None:
        self.limits = limits
        self._validator = compiled(REQUEST)  # compiled here, once, not per message

    def decode(self, raw: bytes | None, *, now: float) -> Accepted | Rejection:
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
            key, metadata, _ = self._echo(obj)
            return Rejection(_reason_for(errors), errors, event_id, key, metadata)
        assert event_id is not None  # the schema requires a well-formed one
        return self._normalise(obj, event_id, now)

    def _echo(
        self, obj: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None, FieldError | None]:
        """Idempotency key and metadata when well-formed, and what is wrong with the metadata.

        Metadata over the limits is never echoed: the limits exist to keep events small
        and serialisable.
        """
        key = obj.get("idempotency_key")
        if not (isinstance(key, str) and _IDENTIFIER.fullmatch(key)):
            key = None
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            return key, None, None
        try:
            size = len(orjson.dumps(metadata))
        except TypeError:  # orjson's own nesting limit
            size = -1
        if size < 0 or _deeper_than(metadata, MAX_METADATA_DEPTH):
            text = f"nests deeper than {MAX_METADATA_DEPTH} levels"
            return key, None, FieldError("/metadata", "too_deep", text)
        limit = self.limits.max_metadata_bytes
        if size > limit:
            text = f"is {size} bytes as compact JSON; the limit is {limit}"
            return key, None, FieldError("/metadata", "too_large", text)
        return key, metadata, None

    def _normalise(self, obj: dict[str, Any], event_id: str, now: float) -> Accepted | Rejection:
        limits = self.limits
        idempotency_key, metadata, metadata_problem = self._echo(obj)

        def reject(reason: str, *errors: FieldError) -> Rejection:
            return Rejection(reason, list(errors), event_id, idempotency_key, metadata)

        is_template = "template" in obj
        items_field = "rows" if is_template else "recipients"
        items: list[Any] = obj[items_field]
        if len(items) > limits.max_recipients:
            return reject(
                TOO_MANY_RECIPIENTS,
                FieldError(
                    f"/{items_field}",
                    "too_many_items",
                    f"has {len(items)} entries; the limit is {limits.max_recipients}",
                ),
            )
        if metadata_problem is not None:
            return reject(METADATA_TOO_LARGE, metadata_problem)
        sender_id: str | None = obj.get("sender_id")
        allowlist = limits.sender_id_allowlist
        if sender_id is not None and allowlist and sender_id not in allowlist:
            return reject(
                SENDER_ID_NOT_ALLOWED,
                FieldError("/sender_id", "not_allowed", "is not in the relay's allow-list"),
            )

        times: dict[str, datetime | None] = {}
        for field in ("scheduled_at", "expires_at"):
            value = obj.get(field)
            parsed = None if value is None else parse_timestamp(value, field)
            if isinstance(parsed, FieldError):
                return reject(INVALID_SCHEDULE, parsed)
            times[field] = parsed
        scheduled_at, expires_at = times["scheduled_at"], times["expires_at"]
        if scheduled_at is not None and expires_at is not None and expires_at <= scheduled_at:
            return reject(
                INVALID_SCHEDULE,
                FieldError("/expires_at", "expires_before_schedule", "must be after scheduled_at"),
            )

        warnings: list[str] = []
        message: str | None = None
        template: str | None = None
        rows: list[dict[str, str]] = []
        if is_template:
            template = obj["template"]
            variables = template_variables(template)
            if isinstance(variables, FieldError):
                return reject(TEMPLATE_INVALID, variables)
            rows, texts, rejected, duplicates, errors = self._rows(template, variables, items)
            if errors:
                return reject(TEMPLATE_INVALID, *errors[:MAX_ERRORS])
            if not rows:
                return reject(NO_VALID_RECIPIENTS, *_recipient_errors(rejected))
            recipients = [row["contact"] for row in rows]
            cost, non_gsm = estimate((text, 1) for text in texts)
        else:
            message = obj["message"]
            problem = check_message(message, "/message")
            if problem is not None:
                return reject(INVALID_MESSAGE, problem)
            recipients, rejected, duplicates = normalise_recipients(items)
            if not recipients:
                return reject(NO_VALID_RECIPIENTS, *_recipient_errors(rejected))
            cost, non_gsm = estimate([(message, len(recipients))])

        if duplicates:
            what = "row" if is_template else "recipient"
            warnings.append(
                f"duplicates_removed: {duplicates} duplicate {what}(s) removed after "
                "normalisation; the first occurrence is kept"
            )
        if non_gsm:
            warnings.append(ucs2_warning(non_gsm))
        expired = expires_at is not None and expires_at.timestamp() <= now
        if expired:
            warnings.append("expired: expires_at has passed; nothing will be sent")
        elif scheduled_at is not None and scheduled_at.timestamp() <= now:
            if limits.late_schedule_policy == "reject":
                return reject(
                    SCHEDULE_PASSED,
                    FieldError(
                        "/scheduled_at",
                        "schedule_passed",
                        "has passed (late_schedule_policy is reject)",
                    ),
                )
            warnings.append(
                "schedule_passed: scheduled_at has passed; sending now "
                "(late_schedule_policy is send_now)"
            )
            scheduled_at = None

        business = obj.get("business")
        request = SmsRequest(
            event_id=event_id,
            idempotency_key=idempotency_key,
            kind="template" if is_template else "plain",
            message=message,
            recipients=tuple(recipients),
            template=template,
            rows=tuple(rows),
            sender_id=sender_id,
            scheduled_at=scheduled_at,
            expires_at=expires_at,
            delivery=obj.get("delivery") or limits.delivery_default,
            metadata=metadata,
            business=int(business) if is_template and business is not None else None,
        )
        return Accepted(request, rejected, warnings, cost, expired)

    def _rows(
        self, template: str, variables: list[str], items: list[dict[str, str]]
    ) -> tuple[list[dict[str, str]], list[str], list[RejectedRecipient], int, list[FieldError]]:
        """Kept rows (contact normalised), their texts, rejected contacts, duplicates, errors.

        A bad contact drops its row; a missing variable or an unsendable rendering rejects
        the event, because dropping a customer's message for its content is not the
        producer's intent.
        """
        rows: list[dict[str, str]] = []
        texts: list[str] = []
        rejected: list[RejectedRecipient] = []
        errors: list[FieldError] = []
        seen: set[tuple[tuple[str, str], ...]] = set()
        duplicates = 0
        render = renderer(template)
        for index, row in enumerate(items):
            contact = row["contact"]
            number, reason = normalise_phone(contact)
            if number is None:
                rejected.append(
                    RejectedRecipient(f"/rows/{index}/contact", mask_phone(contact), str(reason))
                )
                continue
            missing = [name for name in variables if name not in row]
            if missing:
                errors.extend(
                    FieldError(
                        f"/rows/{index}/{name}", "missing_variable", f"has no value for {{{name}}}"
                    )
                    for name in missing
                )
                continue
            normalised = {**row, "contact": number}
            text = render(normalised)
            problem = check_message(text, f"/rows/{index}")
            if problem is not None:
                errors.append(
                    FieldError(
                        problem.path,
                        f"rendered_{problem.code}",
                        f"rendered message {problem.message}",
                    )
                )
                continue
            key = tuple(sorted(normalised.items()))
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            rows.append(normalised)
            texts.append(text)
        return rows, texts, rejected, duplicates, errors
