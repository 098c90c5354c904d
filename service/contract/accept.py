"""From a schema-valid event to an accepted request, in named steps.

    echo ─► limits (recipients, metadata, sender) ─► times ─► content (plain | template)
         ─► lane (priority, default expiry) ─► timing (expired, late schedule) ─► Accepted

Each step answers its value or a `Refusal` (reason + field errors); the first refusal
becomes the event's `Rejection`, carrying the idempotency key and metadata when they are
well-formed. Pure: the caller passes `now`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, cast

import orjson

from service.contract.model import (
    DEFAULT_ACCOUNT,
    INVALID_MESSAGE,
    METADATA_TOO_LARGE,
    NO_VALID_RECIPIENTS,
    SENDER_ID_NOT_ALLOWED,
    TEMPLATE_INVALID,
    TOO_MANY_RECIPIENTS,
    UNKNOWN_ACCOUNT,
    Accepted,
    ContractLimits,
    Estimate,
    FieldError,
    RejectedRecipient,
    Rejection,
    SmsRequest,
)
from service.contract.normalise import (
    check_message,
    estimate,
    estimate_rows,
    normalise_recipients,
    template_variables,
    ucs2_warning,
)
from service.contract.phones import REASON_TEXT
from service.contract.rows import normalise_rows
from service.contract.schemas import MAX_ERRORS
from service.contract.timing import Refusal, apply_timing, choose_lane, parse_times
from service.priority import PRIORITIES, Priority

# Metadata is echoed inside every outbound event, and orjson refuses to serialise more than
# 254 levels, so a deep metadata would break publishing long after it was accepted.
MAX_METADATA_DEPTH: Final = 32
IDENTIFIER: Final = re.compile(r"[!-~]{1,128}")


@dataclass(frozen=True, slots=True)
class Echo:
    """What every answer about the event carries back to its producer."""

    idempotency_key: str | None
    metadata: dict[str, Any] | None
    metadata_problem: FieldError | None = None
    priority: Priority | None = None


@dataclass(slots=True)
class Content:
    message: str | None
    template: str | None
    rows: list[dict[str, str]]
    recipients: list[str]
    rejected: list[RejectedRecipient]
    duplicates: int
    cost: Estimate
    non_gsm: tuple[str, ...]
    row_units: tuple[int, ...] = ()  # templates: each kept row's Push.R units


def accept(
    obj: dict[str, Any],
    event_id: str,
    now: float,
    limits: ContractLimits,
    *,
    produced_at: float | None = None,
    lane: Priority | None = None,
) -> Accepted | Rejection:
    """`produced_at` (epoch seconds, default `now`) starts a default expiry; `lane` is the
    lane of the topic the event came from, which wins over its `priority` field."""
    echo = echo_fields(obj, limits)

    def reject(refusal: Refusal) -> Rejection:
        return Rejection(
            refusal.reason,
            list(refusal.errors),
            event_id,
            echo.idempotency_key,
            echo.metadata,
            lane or echo.priority,
        )

    refusal = check_limits(obj, limits, echo)
    if refusal is not None:
        return reject(refusal)
    times = parse_times(obj)
    if isinstance(times, Refusal):
        return reject(times)
    content = template_content(obj) if "template" in obj else plain_content(obj)
    if isinstance(content, Refusal):
        return reject(content)
    priority, times, lane_warnings = choose_lane(
        obj, times, limits, lane=lane, now=now, produced_at=produced_at
    )
    timing = apply_timing(times, now, limits)
    if isinstance(timing, Refusal):
        return reject(timing)
    expired, scheduled_at, timing_warnings = timing
    business = obj.get("business")
    request = SmsRequest(
        event_id=event_id,
        idempotency_key=echo.idempotency_key,
        kind="plain" if content.template is None else "template",
        message=content.message,
        recipients=tuple(content.recipients),
        template=content.template,
        rows=tuple(content.rows),
        row_units=content.row_units,
        sender_id=obj.get("sender_id"),
        scheduled_at=scheduled_at,
        expires_at=times.expires_at,
        delivery=obj.get("delivery") or limits.delivery_default,
        metadata=echo.metadata,
        business=int(business) if content.template is not None and business is not None else None,
        priority=priority,
        account=obj.get("account") or DEFAULT_ACCOUNT,
    )
    warnings = content_warnings(content) + lane_warnings + timing_warnings
    return Accepted(request, content.rejected, warnings, content.cost, expired)


def echo_fields(obj: dict[str, Any], limits: ContractLimits) -> Echo:
    """Idempotency key and metadata when well-formed, and what is wrong with the metadata.

    Metadata over the limits is never echoed: the limits exist to keep events small and
    serialisable.
    """
    key = obj.get("idempotency_key")
    if not (isinstance(key, str) and IDENTIFIER.fullmatch(key)):
        key = None
    field = obj.get("priority")
    priority = cast(Priority, field) if field in PRIORITIES else None
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return Echo(key, None, priority=priority)
    try:
        size = len(orjson.dumps(metadata))
    except TypeError:  # orjson's own nesting limit
        size = -1
    if size < 0 or _deeper_than(metadata, MAX_METADATA_DEPTH):
        text = f"nests deeper than {MAX_METADATA_DEPTH} levels"
        return Echo(key, None, FieldError("/metadata", "too_deep", text), priority)
    if size > limits.max_metadata_bytes:
        text = f"is {size} bytes as compact JSON; the limit is {limits.max_metadata_bytes}"
        return Echo(key, None, FieldError("/metadata", "too_large", text), priority)
    return Echo(key, metadata, priority=priority)


def check_limits(obj: dict[str, Any], limits: ContractLimits, echo: Echo) -> Refusal | None:
    """The relay's own limits: recipients per event, metadata size, a known account, its
    allowed sender ids."""
    items_field = "rows" if "template" in obj else "recipients"
    count = len(obj[items_field])
    if count > limits.max_recipients:
        text = f"has {count} entries; the limit is {limits.max_recipients}"
        return Refusal(
            TOO_MANY_RECIPIENTS, (FieldError(f"/{items_field}", "too_many_items", text),)
        )
    if echo.metadata_problem is not None:
        return Refusal(METADATA_TOO_LARGE, (echo.metadata_problem,))
    account = obj.get("account") or DEFAULT_ACCOUNT
    accounts = limits.account_senders
    if accounts is None:
        allowlist = limits.sender_id_allowlist
        known = account == DEFAULT_ACCOUNT
    else:
        allowlist = accounts.get(account, frozenset())
        known = account in accounts
    if not known:
        error = FieldError("/account", "unknown", "names no account this relay sends for")
        return Refusal(UNKNOWN_ACCOUNT, (error,))
    sender_id = obj.get("sender_id")
    if sender_id is not None and allowlist and sender_id not in allowlist:
        error = FieldError("/sender_id", "not_allowed", "is not in the relay's allow-list")
        return Refusal(SENDER_ID_NOT_ALLOWED, (error,))
    return None


def plain_content(obj: dict[str, Any]) -> Content | Refusal:
    message: str = obj["message"]
    problem = check_message(message, "/message")
    if problem is not None:
        return Refusal(INVALID_MESSAGE, (problem,))
    recipients, rejected, duplicates = normalise_recipients(obj["recipients"])
    if not recipients:
        return Refusal(NO_VALID_RECIPIENTS, recipient_errors(rejected))
    cost, non_gsm = estimate([(message, len(recipients))])
    return Content(message, None, [], recipients, rejected, duplicates, cost, non_gsm)


def template_content(obj: dict[str, Any]) -> Content | Refusal:
    template: str = obj["template"]
    variables = template_variables(template)
    if isinstance(variables, FieldError):
        return Refusal(TEMPLATE_INVALID, (variables,))
    rows, texts, rejected, duplicates, errors = normalise_rows(template, variables, obj["rows"])
    if errors:
        return Refusal(TEMPLATE_INVALID, tuple(errors[:MAX_ERRORS]))
    if not rows:
        return Refusal(NO_VALID_RECIPIENTS, recipient_errors(rejected))
    cost, non_gsm, row_units = estimate_rows(texts)
    recipients = [row["contact"] for row in rows]
    return Content(None, template, rows, recipients, rejected, duplicates, cost, non_gsm, row_units)


def content_warnings(content: Content) -> list[str]:
    warnings: list[str] = []
    if content.duplicates:
        what = "recipient" if content.template is None else "row"
        warnings.append(
            f"duplicates_removed: {content.duplicates} duplicate {what}(s) removed after "
            "normalisation; the first occurrence is kept"
        )
    if content.non_gsm:
        warnings.append(ucs2_warning(content.non_gsm))
    return warnings


def recipient_errors(rejected: list[RejectedRecipient]) -> tuple[FieldError, ...]:
    return tuple(
        FieldError(r.path, r.reason, f"{r.recipient}: {REASON_TEXT.get(r.reason, r.reason)}")
        for r in rejected[:MAX_ERRORS]
    )


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
