"""What the sandbox saw: counters, a bounded ring of recent requests, and SMS sends.

Cheap enough for the benchmark: counters are dict increments, the ring is a bounded deque,
and sends are counted in a dict of ints keyed by `hash((text, recipient))` (one small int per
distinct SMS; a 64-bit collision among ~1e6 entries is improbable enough for a test tool).
The text of a (message, recipient) pair is kept only once it is sent a second time.

Queries snapshot with C-level copies (`dict.copy`, `list(deque)`), so a test thread may call
them while the sandbox's loop thread is writing.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

from service.devkit.sandbox.validation import normalise_phone

ACCEPTED = "accepted"


class RequestRecord(NamedTuple):
    seq: int
    time: float  # wall clock, seconds
    method: str
    endpoint: str  # send-sms | custom | list | other
    status: int | None  # None when no answer was sent (hang, reset, outage)
    outcome: str  # accepted | rejected | unauthorized | not_found | fault | rate_limited
    fault: str | None  # 503, late, reset, hang, ... when a fault was applied
    business: int | None
    message_ids: tuple[int, ...]
    recipients_count: int

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


class DuplicateSend(NamedTuple):
    message: str
    recipient: str
    times: int  # accepted this many times (> 1); `count` would shadow tuple.count

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "recipient": self.recipient, "count": self.times}


class Traffic:
    def __init__(self, ring_size: int = 10_000) -> None:
        self.ring: deque[RequestRecord] = deque(maxlen=ring_size)
        self.counters: dict[tuple[str, str], int] = {}
        self.sends: dict[int, int] = {}
        self.per_recipient: dict[int, int] = {}
        self.duplicates: dict[int, tuple[str, str]] = {}
        self.seq = 0
        self.accepted_sends = 0

    def reset(self) -> None:
        self.ring.clear()
        self.counters.clear()
        self.sends.clear()
        self.per_recipient.clear()
        self.duplicates.clear()
        self.seq = 0
        self.accepted_sends = 0

    def record(  # noqa: PLR0917 - once per request, positional is the cheap call
        self,
        now: float,
        method: str,
        endpoint: str,
        status: int | None,
        outcome: str,
        fault: str | None = None,
        business: int | None = None,
        message_ids: tuple[int, ...] = (),
        recipients_count: int = 0,
    ) -> RequestRecord:
        self.seq += 1
        key = (endpoint, outcome if fault is None else f"{outcome}:{fault}")
        self.counters[key] = self.counters.get(key, 0) + 1
        rec = RequestRecord(
            self.seq, now, method, endpoint, status, outcome, fault, business,
            message_ids, recipients_count,
        )  # fmt: skip
        self.ring.append(rec)
        return rec

    def count_send(self, text: str, recipient: str) -> None:
        """One SMS accepted for `recipient` (already normalised to 233XXXXXXXXX)."""
        key = hash((text, recipient))
        count = self.sends.get(key, 0) + 1
        self.sends[key] = count
        if count == 2:
            self.duplicates[key] = (text, recipient)
        number = int(recipient)
        self.per_recipient[number] = self.per_recipient.get(number, 0) + 1
        self.accepted_sends += 1

    # ---- queries -------------------------------------------------------------------------

    def sends_for(self, recipient: str, message: str | None = None) -> int:
        """Accepted SMS for a recipient (`+233…` or `233…`), optionally of one text only."""
        number = normalise_phone(recipient)
        if number is None:
            return 0
        if message is None:
            return self.per_recipient.get(int(number), 0)
        return self.sends.get(hash((message, number)), 0)

    def duplicate_sends(self) -> list[DuplicateSend]:
        """Every (text, recipient) accepted more than once, with its count."""
        sends = self.sends.copy()
        return [
            DuplicateSend(text, recipient, sends.get(key, 0))
            for key, (text, recipient) in self.duplicates.copy().items()
        ]

    def requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        """Recent requests (bounded ring, oldest first)."""
        return [r for r in list(self.ring) if endpoint is None or r.endpoint == endpoint]

    def accepted_requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        """Recent requests that were processed and charged, whatever the client saw."""
        return [r for r in self.requests(endpoint) if r.outcome == ACCEPTED]

    def per_recipient_counts(self, limit: int | None = None) -> dict[str, int]:
        items = list(self.per_recipient.copy().items())
        if limit is not None:
            items = items[:limit]
        return {str(number): count for number, count in items}

    def summary(self, recent: int = 0) -> dict[str, Any]:
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, outcome), count in self.counters.copy().items():
            by_endpoint.setdefault(endpoint, {})[outcome] = count
        result: dict[str, Any] = {
            "requests": self.seq,
            "by_endpoint": by_endpoint,
            "accepted_sends": self.accepted_sends,
            "distinct_sends": len(self.sends),
            "recipients": len(self.per_recipient),
            "duplicates": [d.to_dict() for d in self.duplicate_sends()],
        }
        if recent:
            result["recent"] = [r.to_dict() for r in self.requests()[-recent:]]
        return result
