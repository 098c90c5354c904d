"""The idempotency ledger: what the relay remembers about every batch it sends.

Push.R has no idempotency key, so the relay keeps its own. A batch key is
`{idempotency_key or event_id}#{index}/{count}`; the plan is deterministic, so a
redelivered event maps to the same keys.

    claim ──► claimed(owner, lease) ──► sent(result) | rejected(result) | unknown(result)

Backends: `MemoryLedger` (one replica) and `RedisLedger` (shared); one contract suite
(`tests/contract/test_ledger_contract.py`) runs against both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


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


class LedgerError(Exception):
    """The backend failed: the deliverer retries the call and sends nothing meanwhile.

    The outcome of the failed call is unknown (a write may have been applied before the
    answer was lost); every call is safe to repeat with the same arguments (a repeated
    `release` answers False: the claim is already gone).
    """
