"""The values the contract hands to the pipeline: accepted requests and rejections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from service.contract.segments import Encoding
from service.priority import Priority
from service.settings import Settings

Kind = Literal["plain", "template"]
DeliveryMode = Literal["at_most_once", "at_least_once"]
LateSchedulePolicy = Literal["send_now", "reject"]

# Event-level rejection reasons (stable: DLQ `reason`, status `reason`, metric label).
EMPTY_PAYLOAD: Final = "empty_payload"
PAYLOAD_TOO_LARGE: Final = "payload_too_large"
NOT_UTF8: Final = "not_utf8"
NOT_JSON: Final = "not_json"
NOT_OBJECT: Final = "not_object"
SCHEMA_INVALID: Final = "schema_invalid"
TOO_MANY_RECIPIENTS: Final = "too_many_recipients"
METADATA_TOO_LARGE: Final = "metadata_too_large"
INVALID_MESSAGE: Final = "invalid_message"
INVALID_SENDER_ID: Final = "invalid_sender_id"
SENDER_ID_NOT_ALLOWED: Final = "sender_id_not_allowed"
INVALID_SCHEDULE: Final = "invalid_schedule"
SCHEDULE_PASSED: Final = "schedule_passed"
TEMPLATE_INVALID: Final = "template_invalid"
NO_VALID_RECIPIENTS: Final = "no_valid_recipients"
UNKNOWN_ACCOUNT: Final = "unknown_account"
DEFAULT_ACCOUNT: Final = "default"

REJECTION_REASONS: Final = (
    EMPTY_PAYLOAD,
    PAYLOAD_TOO_LARGE,
    NOT_UTF8,
    NOT_JSON,
    NOT_OBJECT,
    SCHEMA_INVALID,
    TOO_MANY_RECIPIENTS,
    METADATA_TOO_LARGE,
    INVALID_MESSAGE,
    INVALID_SENDER_ID,
    SENDER_ID_NOT_ALLOWED,
    INVALID_SCHEDULE,
    SCHEDULE_PASSED,
    TEMPLATE_INVALID,
    NO_VALID_RECIPIENTS,
    UNKNOWN_ACCOUNT,
)


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # JSON pointer into the event ("" = the whole event), numbers masked
    code: str  # stable, see schemas/README.md
    message: str  # for humans; never a full phone number, never the offending value

    def to_json_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str  # one of REJECTION_REASONS
    errors: list[FieldError]
    event_id: str | None  # when the payload carried a well-formed one
    # Echoed in the `rejected` status when well-formed, so producers can correlate.
    idempotency_key: str | None = None
    metadata: dict[str, Any] | None = None
    priority: Priority | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "valid": False,
            "reason": self.reason,
            "errors": [e.to_json_dict() for e in self.errors],
        }


@dataclass(frozen=True, slots=True)
class RejectedRecipient:
    path: str  # "/recipients/3" or "/rows/3/contact"
    recipient: str  # masked
    reason: str  # a code of service.contract.phones

    def to_json_dict(self) -> dict[str, str]:
        return {"path": self.path, "recipient": self.recipient, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Estimate:
    provider_units: int  # Push.R: ceil(chars / 160) per message, summed over recipients
    segments: int  # carrier segments, summed over recipients
    encoding: Encoding  # UCS-2 when any message needs it

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "provider_units": self.provider_units,
            "segments": self.segments,
            "encoding": self.encoding,
        }


def format_timestamp(value: datetime, timespec: str = "auto") -> str:
    """RFC 3339 in UTC with `Z`, the form every event of the relay uses."""
    text = value.astimezone(UTC).isoformat(timespec=timespec)
    return text.removesuffix("+00:00") + "Z"


def format_epoch(seconds: float) -> str:
    return format_timestamp(datetime.fromtimestamp(seconds, UTC), "milliseconds")


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """A normalised request. Treat `rows` and `metadata` as read-only."""

    event_id: str
    idempotency_key: str | None
    kind: Kind
    message: str | None  # plain
    recipients: tuple[str, ...]  # 233XXXXXXXXX; for templates the row contacts in order
    template: str | None
    rows: tuple[dict[str, str], ...]  # template rows with normalised `contact`
    row_units: tuple[int, ...]  # each row's Push.R units (empty for plain requests)
    sender_id: str | None
    scheduled_at: datetime | None  # UTC; None when absent or passed under `send_now`
    expires_at: datetime | None  # UTC
    delivery: DeliveryMode
    metadata: dict[str, Any] | None
    business: int | None
    # the lane it waits in (README "Priority lanes"); a lane topic's lane wins over the field
    priority: Priority = "normal"
    account: str = DEFAULT_ACCOUNT  # the Push.R account it is sent from (accounts file)

    @property
    def ledger_key(self) -> str:
        return self.idempotency_key or self.event_id

    def to_json_dict(self) -> dict[str, Any]:
        """The normalised event; valid against sms-request v1 and a fixed point of decode."""
        out: dict[str, Any] = {"event_id": self.event_id}
        if self.account != DEFAULT_ACCOUNT:
            out["account"] = self.account
        if self.idempotency_key is not None:
            out["idempotency_key"] = self.idempotency_key
        if self.kind == "plain":
            out["message"] = self.message
            out["recipients"] = list(self.recipients)
        else:
            out["template"] = self.template
            out["rows"] = [dict(row) for row in self.rows]
            if self.business is not None:
                out["business"] = self.business
        if self.sender_id is not None:
            out["sender_id"] = self.sender_id
        if self.scheduled_at is not None:
            out["scheduled_at"] = format_timestamp(self.scheduled_at)
        if self.expires_at is not None:
            out["expires_at"] = format_timestamp(self.expires_at)
        out["delivery"] = self.delivery
        out["priority"] = self.priority
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass(frozen=True, slots=True)
class Accepted:
    request: SmsRequest
    rejected_recipients: list[RejectedRecipient]
    warnings: list[str]  # "code: text"; codes in schemas/README.md
    estimate: Estimate
    expired: bool  # expires_at passed: publish status `expired`, send nothing

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "valid": True,
            "event": self.request.to_json_dict(),
            "estimate": self.estimate.to_json_dict(),
            "rejected_recipients": [r.to_json_dict() for r in self.rejected_recipients],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class ContractLimits:
    max_event_bytes: int
    max_recipients: int
    max_metadata_bytes: int
    sender_id_allowlist: frozenset[str]
    late_schedule_policy: LateSchedulePolicy
    delivery_default: DeliveryMode
    # `critical` events without `expires_at` expire this long after they were produced
    critical_default_expiry_seconds: float = 0.0
    # Account name -> its allowed sender ids (empty = any). None: one account, `default`,
    # under `sender_id_allowlist`; an event naming any other account is `unknown_account`.
    account_senders: Mapping[str, frozenset[str]] | None = None

    @classmethod
    def defaults(cls) -> ContractLimits:
        """The settings' defaults, without reading the environment (tests, examples)."""
        return cls.from_settings(Settings.model_construct())

    @classmethod
    def from_settings(cls, settings: Settings) -> ContractLimits:
        return cls(
            max_event_bytes=settings.max_event_bytes,
            max_recipients=settings.max_recipients,
            max_metadata_bytes=settings.max_metadata_bytes,
            sender_id_allowlist=frozenset(settings.sender_id_allowlist),
            late_schedule_policy=settings.late_schedule_policy,
            delivery_default=settings.delivery_default,
            critical_default_expiry_seconds=settings.critical_default_expiry_seconds,
        )
