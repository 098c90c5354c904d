"""The idempotency ledger: what the relay remembers about every batch it sends.

Push.R has no idempotency key, so the relay keeps its own. A batch key is
`{idempotency_key or event_id}#{index}/{count}`; the plan is deterministic, so a
redelivered event maps to the same keys.

    claim ──► claimed(owner, lease) ──► sent(result) | rejected(result) | unknown(result)

With reconciliation (`ReconcilingLedger`, `service.ledger.pending`) an ambiguous claim is
*handed over*: unknown(result) plus a pending record; its verdict later settles the entry
(sent, or unknown for good) or reopens it for one send.

Backends: `MemoryLedger` (one replica) and `RedisLedger` (shared); one contract suite
(`tests/contract/test_ledger_contract.py`) runs against both.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from service.ledger.pending import (
        Decision,
        OpenClaim,
        PendingContext,
        PendingRecord,
        Signature,
    )


class BatchState(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


FINAL_STATES = frozenset({BatchState.SENT, BatchState.REJECTED, BatchState.UNKNOWN})


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # new: the caller owns the batch and may send it
    DONE = "done"  # already final: re-publish `entry.result`, never send again
    BUSY = "busy"  # another owner holds a live lease: wait and ask again
    TAKEN_OVER = "taken_over"  # a lease expired mid-call: the caller owns it, outcome ambiguous
    # A claim by the owner that already holds a *live* lease is CLAIMED again (a retried
    # claim whose answer was lost). Once the lease has lapsed it is TAKEN_OVER even for the
    # same owner: it may have been cancelled mid-request, so the SMS may have left.


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    state: BatchState
    owner: str
    # Backend clock, seconds (memory: the Clock's monotonic; Redis: server TIME, epoch);
    # meaningful while CLAIMED and comparable only with entries of the same backend.
    lease_until: float
    result: dict[str, Any] | None = None  # the published result event of a final batch
    # The claim's request window on the backend's wall clock (epoch seconds: Redis TIME, or
    # the memory ledger's Clock.now): when it was claimed and when its lease ends. None for
    # entries written without them (the window of a lapsed claim is then unknown).
    claimed_at: float | None = None
    lease_end: float | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    # CLAIMED: the new claim. DONE: the final entry. BUSY: the live claim (its owner and
    # lease end). TAKEN_OVER: the lapsed claim as it stood (its owner is who may have sent).
    entry: LedgerEntry | None


class Ledger(Protocol):
    async def claim(self, key: str, owner: str, lease_seconds: float) -> Claim:
        """Atomically claim `key` for `owner` (see ClaimStatus)."""
        ...

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        """Extend a lease the owner still holds; False when it lost it."""
        ...

    async def complete(
        self, key: str, owner: str, state: BatchState, result: dict[str, Any]
    ) -> bool:
        """Record a final state if `owner` still holds the claim (compare-and-set).

        Also True when `owner` already completed it with the same state (a retried call);
        the first result stays. Restarts the entry's TTL.
        """
        ...

    async def release(self, key: str, owner: str) -> bool:
        """Drop the owner's claim: the batch was certainly not sent (safe to send later)."""
        ...

    async def get(self, key: str) -> LedgerEntry | None: ...

    async def ping(self) -> bool:
        """True when the backend answers (readiness)."""
        ...

    async def close(self) -> None: ...


class ReconcilingLedger(Ledger, Protocol):
    """A ledger that also keeps what reconciliation needs (`service.ledger.pending`).

    Built with `reconcile=True`, each backend also attributes the Push.R id of every result
    it completes and drops completed or released claims from the index of open claims.
    """

    async def claim_open(
        self, key: str, owner: str, lease_seconds: float, signature: Signature
    ) -> Claim:
        """`claim`, and index the claim as open with `signature` until it ends."""
        ...

    async def hand_over(
        self,
        key: str,
        owner: str,
        result: dict[str, Any],
        context: PendingContext,
        *,
        window: tuple[float, float] | None,
        deadline_seconds: float,
    ) -> bool:
        """Complete the owner's claim as `unknown` with `result` and record the batch as
        pending, atomically. The window is `window` (a lapsed claim's), or else from the
        claim to the later of now and claim + `deadline_seconds`. False when the owner no
        longer holds the claim; True again for a retried call."""
        ...

    async def now(self) -> float:
        """The backend's wall clock, epoch seconds (the clock of every window)."""
        ...

    async def pending(self) -> list[PendingRecord]:
        """Every pending record, oldest first."""
        ...

    async def open_claims(self, claimed_before: float) -> list[OpenClaim]:
        """Open claims made at or before `claimed_before`."""
        ...

    async def attributed(self, message_ids: Collection[int]) -> set[int]:
        """Those of `message_ids` that some recorded result owns."""
        ...

    async def decide(self, decisions: Sequence[Decision], attribute: Collection[int]) -> bool:
        """Commit the verdicts of one group of batches, all or none, and attribute the
        list entries the group used. None is applied (False) when any record changed since
        it was read (another hand-over, another decision)."""
        ...

    async def finish(self, key: str, generation: int) -> None:
        """Drop the record once its story is published (a newer generation stays)."""
        ...

    async def prune_attributed(self, before: float) -> None:
        """Forget attributions recorded before `before` (no window can reach them)."""
        ...


class LedgerError(Exception):
    """The backend failed: the deliverer retries the call and sends nothing meanwhile.

    The outcome of the failed call is unknown (a write may have been applied before the
    answer was lost); every call is safe to repeat with the same arguments (a repeated
    `release` answers False: the claim is already gone).
    """
