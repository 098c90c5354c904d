"""Consent, as pure rules: the opt-out record, which recipients a message may reach, and
the name a number goes by in shared storage.

An opt-out record (schemas/sms-optout.v1.json) sits on a compacted topic keyed by the
normalised number; the latest record per number wins and a tombstone removes the number.
Scope `all` blocks every message to the number, scope `bulk` only `bulk`-priority ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import orjson

from service.contract.masking import mask_phone
from service.contract.model import RejectedRecipient, format_epoch, format_timestamp
from service.contract.phones import REASON_TEXT, normalise_phone
from service.contract.schemas import OPTOUT, schema_errors

Scope = Literal["all", "bulk"]
SCOPES: Final[tuple[Scope, ...]] = ("all", "bulk")

# Per-recipient reasons a batch drops a recipient for at send time (status, metric label).
OPTED_OUT: Final = "opted_out"
FREQUENCY_CAPPED: Final = "frequency_capped"
DROP_REASONS: Final = (OPTED_OUT, FREQUENCY_CAPPED)
DROP_TEXT: Final = {
    OPTED_OUT: "the recipient opted out of these messages",
    FREQUENCY_CAPPED: "the recipient reached the bulk frequency cap for the last 24 hours",
}

# Why a number is hashed before it names anything in Redis: see README "Consent".
_DIGEST_DOMAIN: Final = b"pushr-relay:recipient:"


def number_digest(number: str) -> str:
    """The name a normalised number goes by in shared storage (Redis fields and keys)."""
    return hashlib.sha256(_DIGEST_DOMAIN + number.encode("ascii")).hexdigest()[:32]


def blocks(scope: Scope | None, priority: str) -> bool:
    """Whether an opt-out of `scope` keeps a message of `priority` from the number."""
    return scope == "all" or (scope == "bulk" and priority == "bulk")


@dataclass(frozen=True, slots=True)
class OptOut:
    """One record of the list; `opted_out` False (or a tombstone) takes the number off."""

    number: str  # normalised, 233XXXXXXXXX
    opted_out: bool
    scope: Scope
    at: str  # RFC 3339, UTC
    source: str

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "opted_out": self.opted_out,
            "scope": self.scope,
            "at": self.at,
            "source": self.source,
        }

    def encode(self) -> tuple[bytes, bytes]:
        """The record's key and value, as the topic carries them."""
        return self.number.encode("ascii"), orjson.dumps(self.to_json_dict())


@dataclass(frozen=True, slots=True)
class BadNumber:
    """An input the list cannot take, with the reason `validate` gives for it."""

    masked: str
    reason: str

    @property
    def text(self) -> str:
        return REASON_TEXT.get(self.reason, self.reason)


def build_optout(
    raw_number: str, *, opted_out: bool, scope: Scope, at: float, source: str
) -> OptOut | BadNumber:
    """A record for `raw_number` in any form producers use, normalised as events are."""
    number, reason = normalise_phone(raw_number)
    if number is None:
        return BadNumber(mask_phone(raw_number), reason or "invalid_format")
    return OptOut(number, opted_out, scope, format_epoch(at), source)


def decode_optout(key: bytes | None, value: bytes | None) -> OptOut | str:
    """A record read from the topic, or why it cannot be used (never quoting a number)."""
    if value is None:  # a tombstone: the key is the number taken off the list
        text = key.decode("ascii", "replace") if key is not None else ""
        number, reason = normalise_phone(text)
        if number is None:
            return f"tombstone key is not a Ghana mobile number ({reason})"
        return OptOut(number, False, "all", "", "tombstone")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "value is not JSON"
    errors = schema_errors(OPTOUT, obj, limit=3)
    if errors:
        return "; ".join(f"{e.path or '(record)'}: {e.message}" for e in errors)
    number, reason = normalise_phone(obj["number"])
    if number is None:
        return f"/number: not a Ghana mobile number ({reason})"
    if key is not None and key != number.encode("ascii"):
        return "the key is not the record's normalised number"
    return OptOut(number, bool(obj["opted_out"]), obj["scope"], obj["at"], obj["source"])


def with_consent(
    result: dict[str, Any], dropped: Sequence[RejectedRecipient], scheduled_for: datetime | None
) -> dict[str, Any]:
    """A result event with what consent did to its batch: the recipients it dropped, and
    the time quiet hours moved the send to. Absent when consent did neither, as before."""
    if dropped:
        result["rejected_recipients"] = [item.to_json_dict() for item in dropped]
    if scheduled_for is not None:
        result["scheduled_for"] = format_timestamp(scheduled_for)
    return result


def emptied(result: Mapping[str, Any]) -> bool:
    """A batch consent left without a recipient: refused without a request to Push.R."""
    return result.get("recipients_count") == 0 and bool(result.get("rejected_recipients"))


def dropped_recipients(results: Sequence[Mapping[str, Any]]) -> list[RejectedRecipient]:
    return [
        RejectedRecipient(item["path"], item["recipient"], item["reason"])
        for result in results
        for item in result.get("rejected_recipients") or ()
    ]


def no_recipients_reason(dropped: Sequence[RejectedRecipient]) -> str:
    """The status `reason` of an event whose every recipient consent dropped."""
    reasons = {item.reason for item in dropped}
    return reasons.pop() if len(reasons) == 1 else "no_recipients_left"
