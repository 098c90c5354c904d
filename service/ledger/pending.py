"""What the ledger keeps for reconciliation (`service.status.reconciler`): ambiguous batches
waiting for a verdict, the claims still open, and the Push.R ids already attributed.

An ambiguous batch (a timeout after the request was written, a reset mid-answer, a lapsed
claim taken over) is *handed over*: in one atomic step its ledger entry becomes `unknown` and
a `PendingRecord` is written beside it, holding everything any replica needs to finish it
after the relay that started it died:

- the request as sent (text, sender id or none, the recipients themselves, the schedule), so
  a *not sent* verdict can still lead to the one send, after the Kafka record was committed;
- the request window, on the ledger's clock (Redis `TIME`, or the memory ledger's clock):
  from the claim to the request's deadline (pool + connect + write + read timeouts), or, for
  a lapsed claim, from its claim to its lease end;
- who the event was (id, key, metadata, batch position, recipient counts), for the events.

Full numbers live here as they live in Kafka: in a data store with a TTL, never in a log
line, metric, event or exception message.

Every claim made with a `Signature` (text digest, sender id, recipients count) is indexed as
*open* until it is completed or released: a request in the air can put an entry in Push.R's
list that nothing has attributed yet, so the reconciler waits for such claims (or, once
their lease lapsed, counts them as possible owners) instead of pairing a foreign entry with
an ambiguous batch. Every Push.R id the ledger records is *attributed*.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import orjson

from service.ledger.base import BatchState
from service.priority import DEFAULT_PRIORITY, PRIORITIES, Priority

_DIGEST_CHARS = 24


class Verdict(StrEnum):
    SENT = "sent"  # exactly the batches' share of list entries: it was sent
    NOT_SENT = "not_sent"  # nothing in its window once the window settled: send it now
    AMBIGUOUS = "ambiguous"  # cannot be paired one-to-one: unknown, or resent at least once


class PendingState(StrEnum):
    PENDING = "pending"  # waiting for a verdict
    DECIDED = "decided"  # verdict recorded in the ledger; its events still to publish
    SENDING = "sending"  # verdict says send: the entry was reopened for one send


def text_digest(message: str) -> str:
    # Push.R trims the text it stores (Django REST Framework's CharField), so the list shows
    # the trimmed form; the digest is of that form.
    return hashlib.sha256(message.strip().encode("utf-8")).hexdigest()[:_DIGEST_CHARS]


@dataclass(frozen=True, slots=True)
class Signature:
    """What a list entry must share with a request to be its outcome."""

    text_digest: str
    sender_id: str | None  # None: Push.R picks the account's first approved sender
    recipients_count: int

    @classmethod
    def of(cls, message: str, sender_id: str | None, recipients_count: int) -> Signature:
        return cls(text_digest(message), sender_id, recipients_count)

    def encode(self) -> str:
        return f"{self.recipients_count}:{self.sender_id or ''}:{self.text_digest}"

    @classmethod
    def decode(cls, raw: str) -> Signature | None:
        count, sep, rest = raw.partition(":")
        sender, sep2, digest = rest.rpartition(":")
        if not (sep and sep2 and count.isdigit() and len(digest) == _DIGEST_CHARS):
            return None
        return cls(digest, sender or None, int(count))

    def compatible(self, other: Signature) -> bool:
        """Could one list entry be the outcome of both? A missing sender matches any."""
        if self.text_digest != other.text_digest:
            return False
        if self.recipients_count != other.recipients_count:
            return False
        senders = (self.sender_id, other.sender_id)
        return None in senders or senders[0] == senders[1]


@dataclass(frozen=True, slots=True)
class PendingContext:
    """The batch and its event, as stored: enough to match, send and report it anywhere."""

    event_id: str
    idempotency_key: str | None
    metadata: dict[str, Any] | None
    delivery: str
    message: str
    sender_id: str | None
    scheduled_at: float | None  # epoch seconds
    expires_at: float | None  # epoch seconds
    recipients: tuple[str, ...]  # full numbers, 233XXXXXXXXX
    batch_index: int
    batch_count: int
    units: int
    recipients_accepted: int
    recipients_rejected: int
    why: str  # what made it ambiguous: a transport error name, or lease_expired
    # the event's lane: a resend after a verdict waits its turn in it, as the first send did
    # (a record written before lanes were kept goes on the default lane)
    priority: Priority = DEFAULT_PRIORITY

    @property
    def signature(self) -> Signature:
        return Signature.of(self.message, self.sender_id, len(self.recipients))

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> PendingContext:
        data = orjson.loads(raw)
        data["recipients"] = tuple(data["recipients"])
        if data.get("priority") not in PRIORITIES:
            data["priority"] = DEFAULT_PRIORITY
        return cls(**data)


@dataclass(frozen=True, slots=True)
class PendingRecord:
    key: str  # the batch key
    context: PendingContext
    window_start: float  # epoch seconds, ledger clock
    window_end: float
    state: PendingState
    verdict: Verdict | None
    generation: int  # each hand-over of the same batch key counts up
    registered_at: float  # epoch seconds, ledger clock


@dataclass(frozen=True, slots=True)
class OpenClaim:
    """A claim with a request possibly in the air, as the index of open claims holds it."""

    key: str
    claimed_at: float  # epoch seconds, ledger clock
    lease_end: float
    signature: Signature


@dataclass(frozen=True, slots=True)
class Decision:
    """One batch's verdict as the reconciler commits it (`ReconcilingLedger.decide`)."""

    key: str
    generation: int
    verdict: Verdict
    # SENT or UNKNOWN: the entry stays final with `result` (reconciled); None: the entry is
    # reopened so that the batch is sent once more (not sent, or ambiguous at least once).
    final: BatchState | None
    result: dict[str, Any] | None
