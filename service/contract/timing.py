"""The time-bound steps of acceptance: schedule and expiry, and the lane that may set one.

    times (parse, expiry after schedule) ─► lane (priority, critical default expiry)
        ─► timing (expired now, late schedule)

Pure, like the rest of the contract: the caller passes `now` and the produce time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.contract.model import (
    INVALID_SCHEDULE,
    SCHEDULE_PASSED,
    ContractLimits,
    FieldError,
    format_timestamp,
)
from service.contract.normalise import parse_timestamp
from service.priority import Priority


@dataclass(frozen=True, slots=True)
class Refusal:
    """A step's "no": the rejection reason and its field errors."""

    reason: str
    errors: tuple[FieldError, ...]


@dataclass(frozen=True, slots=True)
class Times:
    scheduled_at: datetime | None
    expires_at: datetime | None


def parse_times(obj: dict[str, Any]) -> Times | Refusal:
    parsed: dict[str, datetime | None] = {}
    for name in ("scheduled_at", "expires_at"):
        value = obj.get(name)
        moment = None if value is None else parse_timestamp(value, name)
        if isinstance(moment, FieldError):
            return Refusal(INVALID_SCHEDULE, (moment,))
        parsed[name] = moment
    times = Times(parsed["scheduled_at"], parsed["expires_at"])
    if (
        times.scheduled_at is not None
        and times.expires_at is not None
        and times.expires_at <= times.scheduled_at
    ):
        error = FieldError("/expires_at", "expires_before_schedule", "must be after scheduled_at")
        return Refusal(INVALID_SCHEDULE, (error,))
    return times


def choose_lane(
    obj: dict[str, Any],
    times: Times,
    limits: ContractLimits,
    *,
    lane: Priority | None,
    now: float,
    produced_at: float | None,
) -> tuple[Priority, Times, list[str]]:
    """The event's lane (a lane topic's over the field: topics can be access-controlled,
    a field cannot), and a `critical` event's default expiry, counted from when it was
    produced (or from its schedule), since a late one-time password is worthless."""
    field = obj.get("priority")
    priority: Priority = lane or field or "normal"
    warnings = []
    if lane is not None and field is not None and field != lane:
        warnings.append(
            f"priority_overridden: the topic's lane {lane} wins over the event's {field}"
        )
    default = limits.critical_default_expiry_seconds
    if priority == "critical" and times.expires_at is None and default > 0:
        start = max(now if produced_at is None else produced_at, 0.0)
        if times.scheduled_at is not None:
            start = max(start, times.scheduled_at.timestamp())
        expires_at = datetime.fromtimestamp(start + default, UTC)
        times = Times(times.scheduled_at, expires_at)
        warnings.append(
            f"expiry_defaulted: a critical event without expires_at expires at "
            f"{format_timestamp(expires_at)} (critical_default_expiry_seconds)"
        )
    return priority, times, warnings


def apply_timing(
    times: Times, now: float, limits: ContractLimits
) -> tuple[bool, datetime | None, list[str]] | Refusal:
    """(expired, the schedule to send with, warnings): an expiry that passed sends nothing;
    a schedule that passed follows `late_schedule_policy`."""
    scheduled_at = times.scheduled_at
    if times.expires_at is not None and times.expires_at.timestamp() <= now:
        return True, scheduled_at, ["expired: expires_at has passed; nothing will be sent"]
    if scheduled_at is None or scheduled_at.timestamp() > now:
        return False, scheduled_at, []
    if limits.late_schedule_policy == "reject":
        text = "has passed (late_schedule_policy is reject)"
        return Refusal(SCHEDULE_PASSED, (FieldError("/scheduled_at", "schedule_passed", text),))
    warning = (
        "schedule_passed: scheduled_at has passed; sending now (late_schedule_policy is send_now)"
    )
    return False, None, [warning]
