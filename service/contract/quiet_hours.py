"""Quiet hours, as a pure rule: when a `bulk` message may reach a phone.

A window `HH:MM-HH:MM` in one time zone (default 20:00-08:00, Africa/Accra) during which
`bulk` messages are not delivered; `critical` and `normal` ones ignore it. A window whose
start is after its end runs across midnight. Times are read on the caller's clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOW: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, window: str, zone: str) -> QuietHours:
        """Raise ValueError, naming what is wrong, for a window or zone that cannot work."""
        match = WINDOW.fullmatch(window.strip())
        if match is None:
            raise ValueError(f"quiet hours must look like 20:00-08:00, not {window!r}")
        start = time(int(match[1]), int(match[2]))
        end = time(int(match[3]), int(match[4]))
        if start == end:
            raise ValueError("quiet hours must not start and end at the same time")
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r} (an IANA name: Africa/Accra)") from None
        return cls(start, end, tz)

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """`at` itself outside the window, else the window's end (UTC)."""
        if not self.contains(at):
            return at.astimezone(UTC)
        local = at.astimezone(self.zone)
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end.astimezone(UTC)
