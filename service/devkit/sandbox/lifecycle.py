"""Messages and their status over time, computed when read.

A message is `pending` until it is due (now, or its `time_scheduled`) plus `sent_after_s`,
`sent` until due plus `final_after_s`, then its final outcome: `delivered`, `failed` or
`partial_failed` (drawn at acceptance from `outcomes`; a one-recipient message cannot fail
partially, so it fails). No timers: the status is a function of the clock at read time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

FINAL_OUTCOMES = ("delivered", "failed", "partial_failed")


@dataclass(slots=True)
class LifecycleConfig:
    sent_after_s: float = 0.0
    final_after_s: float = 2.0
    outcomes: dict[str, float] = field(
        default_factory=lambda: {"delivered": 0.97, "failed": 0.02, "partial_failed": 0.01}
    )
    # Recipients whose messages always fail (some of them in a message: partial_failed).
    fail_recipients: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.sent_after_s < 0 or self.final_after_s < self.sent_after_s:
            raise ValueError("need 0 <= sent_after_s <= final_after_s")
        unknown = set(self.outcomes) - set(FINAL_OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(unknown)}; use {FINAL_OUTCOMES}")
        if any(w < 0 for w in self.outcomes.values()) or sum(self.outcomes.values()) <= 0:
            raise ValueError("outcome weights must be >= 0 with a positive total")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LifecycleConfig:
        known = {"sent_after_s", "final_after_s", "outcomes", "fail_recipients"}
        extra = set(raw) - known
        if extra:
            raise ValueError(f"unknown lifecycle keys {sorted(extra)}")
        base = cls()
        return cls(
            sent_after_s=float(raw.get("sent_after_s", base.sent_after_s)),
            final_after_s=float(raw.get("final_after_s", base.final_after_s)),
            outcomes={str(k): float(v) for k, v in raw.get("outcomes", base.outcomes).items()},
            fail_recipients=frozenset(str(r) for r in raw.get("fail_recipients", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent_after_s": self.sent_after_s,
            "final_after_s": self.final_after_s,
            "outcomes": dict(self.outcomes),
            "fail_recipients": sorted(self.fail_recipients),
        }

    def draw(self, rng: random.Random, recipients: list[str]) -> str:
        if self.fail_recipients:
            failing = sum(1 for r in recipients if r in self.fail_recipients)
            if failing:
                return "failed" if failing == len(recipients) else "partial_failed"
        outcome = _weighted(rng, self.outcomes)
        if outcome == "partial_failed" and len(recipients) < 2:
            return "failed"
        return outcome


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    point = rng.random() * sum(weights.values())
    name = "delivered"
    for name, weight in weights.items():
        point -= weight
        if point < 0:
            return name
    return name


class Message:
    __slots__ = (
        "business",
        "cost",
        "created",
        "created_text",
        "final_at",
        "id",
        "outcome",
        "recipients_count",
        "sender_id",
        "sent_at",
        "text",
    )

    def __init__(
        self,
        *,
        message_id: int,
        business: int,
        text: str,
        sender_id: str,
        recipients_count: int,
        cost: str,
        created: float,
        created_text: str,
        due: float,
        lifecycle: LifecycleConfig,
        outcome: str,
    ) -> None:
        self.id = message_id
        self.business = business
        self.text = text
        self.sender_id = sender_id
        self.recipients_count = recipients_count
        self.cost = cost
        self.created = created
        self.created_text = created_text
        self.sent_at = due + lifecycle.sent_after_s
        self.final_at = due + lifecycle.final_after_s
        self.outcome = outcome

    def status(self, now: float) -> str:
        if now < self.sent_at:
            return "pending"
        if now < self.final_at:
            return "sent"
        return self.outcome

    def listed(self, now: float) -> dict[str, Any]:
        """The list endpoint's item (no `business`, as in the API text)."""
        return {
            "id": self.id,
            "message": self.text,
            "status": self.status(now),
            "created": self.created_text,
            "cost": self.cost,
            "sender_id": self.sender_id,
            "recipients_count": self.recipients_count,
        }


class MessageStore:
    """Per-business messages in id order, bounded so long benchmarks keep a flat memory."""

    def __init__(self, retention: int = 100_000) -> None:
        self.retention = retention
        self._by_business: dict[int, list[Message]] = {}
        self.next_id = 1

    def reset(self) -> None:
        self._by_business.clear()
        self.next_id = 1

    def take_id(self) -> int:
        message_id = self.next_id
        self.next_id += 1
        return message_id

    def add(self, message: Message) -> None:
        bucket = self._by_business.get(message.business)
        if bucket is None:
            bucket = self._by_business[message.business] = []
        bucket.append(message)
        # Trim in halves: amortised O(1) per add instead of a deque's O(n) indexing.
        if len(bucket) > 2 * self.retention:
            del bucket[: len(bucket) - self.retention]

    def count(self, business: int) -> int:
        return len(self._by_business.get(business, ()))

    def created_after(self, business: int, moment: float) -> int:
        """How many of the newest messages were created after `moment` (ids follow
        processing order, so they are the last ones)."""
        bucket = self._by_business.get(business, [])
        hidden = 0
        for message in reversed(bucket):
            if message.created <= moment:
                break
            hidden += 1
        return hidden

    def page(self, business: int, offset: int, limit: int) -> list[Message]:
        """Newest first: items offset .. offset+limit-1 of the reversed list."""
        bucket = self._by_business.get(business, [])
        end = len(bucket) - offset
        start = max(0, end - limit)
        return bucket[start:end][::-1] if end > 0 else []

    def get(self, business: int, message_id: int) -> Message | None:
        for message in reversed(self._by_business.get(business, [])):
            if message.id == message_id:
                return message
        return None
