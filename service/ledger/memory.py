"""The single-replica ledger: a dict in this process, on the injected clock.

It is for one replica only: two processes with their own MemoryLedger would both claim
the same batch. Results are kept as orjson bytes, not as the caller's dict, so a caller
that mutates its dict afterwards cannot change history, and a result that Redis could not
store (not JSON) fails here too: both backends follow one contract.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from service.clock import Clock
from service.ledger.base import (
    FINAL_STATES,
    BatchState,
    Claim,
    ClaimStatus,
    LedgerEntry,
)
from service.ledger.memory_reconcile import MemoryReconciliation
from service.ledger.pending import Signature

# Expired entries reclaimed per write. Each write adds at most one entry, so reclaiming
# more than one keeps memory bounded over a long run without a background task.
_SWEEP_BATCH = 16


@dataclass(slots=True)
class _Slot:
    state: BatchState
    owner: str
    lease_until: float
    expires_at: float
    result: bytes | None = None
    # the request window on the wall clock (Clock.now), for reconciliation
    claimed_at: float | None = None
    lease_end: float | None = None


class MemoryLedger(MemoryReconciliation):
    """`Ledger` in process memory; leases and TTLs run on `clock.monotonic()`, request
    windows on `clock.now()`. With `reconcile`, also a `ReconcilingLedger` (within this
    process only, like everything else here)."""

    def __init__(self, clock: Clock, ttl_seconds: float, *, reconcile: bool = False) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._clock = clock
        self._ttl = float(ttl_seconds)
        # Ordered by last write. With one TTL for every write that is also expiry order,
        # so the sweep only ever looks at the front. (A lease longer than the TTL may put
        # an entry out of order; it is then reclaimed a little late, never wrongly.)
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        super().__init__(reconcile=reconcile)

    def __len__(self) -> int:
        return len(self._slots)

    async def claim(self, key: str, owner: str, lease_seconds: float) -> Claim:
        return self._claim(key, owner, lease_seconds, None)

    def _claim(
        self, key: str, owner: str, lease_seconds: float, signature: Signature | None
    ) -> Claim:
        _check_lease(lease_seconds)
        now = self._clock.monotonic()
        self._sweep(now)
        slot = self._live(key, now)
        if slot is None:
            claim = Claim(ClaimStatus.CLAIMED, self._put_claim(key, owner, now, lease_seconds))
        elif slot.state in FINAL_STATES:
            return Claim(ClaimStatus.DONE, _entry(key, slot))
        elif slot.lease_until > now:
            if slot.owner != owner:
                return Claim(ClaimStatus.BUSY, _entry(key, slot))
            # a retried claim: the window still starts at the first one
            entry = self._put_claim(key, owner, now, lease_seconds, slot.claimed_at)
            claim = Claim(ClaimStatus.CLAIMED, entry)
        else:
            # The holder (possibly this very owner, restarted or cancelled) let the lease
            # lapse mid-call: whether its request reached Push.R is unknown.
            old = _entry(key, slot)
            self._put_claim(key, owner, now, lease_seconds)
            claim = Claim(ClaimStatus.TAKEN_OVER, old)
        self._opened(key, signature)
        return claim

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        _check_lease(lease_seconds)
        now = self._clock.monotonic()
        slot = self._live(key, now)
        if slot is None or slot.state is not BatchState.CLAIMED or slot.owner != owner:
            return False
        self._put_claim(key, owner, now, lease_seconds, slot.claimed_at)
        return True

    async def complete(
        self, key: str, owner: str, state: BatchState, result: dict[str, Any]
    ) -> bool:
        if state not in FINAL_STATES:
            raise ValueError(f"complete needs a final state, not {state}")
        payload = _exact(orjson.dumps(result))
        now = self._clock.monotonic()
        self._sweep(now)
        slot = self._live(key, now)
        if slot is None or slot.owner != owner:
            return False
        if slot.state is not BatchState.CLAIMED:
            # A retried complete (its first answer was lost) must not read as "claim lost".
            return slot.state is state
        slot.state = state
        slot.result = payload
        slot.expires_at = now + self._ttl
        self._slots.move_to_end(key)
        self._closed(key, result)
        return True

    async def release(self, key: str, owner: str) -> bool:
        now = self._clock.monotonic()
        slot = self._live(key, now)
        if slot is None or slot.state is not BatchState.CLAIMED or slot.owner != owner:
            return False
        del self._slots[key]
        self._closed(key, None)
        return True

    async def get(self, key: str) -> LedgerEntry | None:
        slot = self._live(key, self._clock.monotonic())
        return None if slot is None else _entry(key, slot)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._slots.clear()

    def _live(self, key: str, now: float) -> _Slot | None:
        slot = self._slots.get(key)
        if slot is not None and slot.expires_at <= now:
            del self._slots[key]
            return None
        return slot

    def _put_claim(
        self,
        key: str,
        owner: str,
        now: float,
        lease_seconds: float,
        claimed_at: float | None = None,
    ) -> LedgerEntry:
        lease_until = now + lease_seconds
        wall = self._clock.now()
        slot = _Slot(
            BatchState.CLAIMED,
            owner,
            lease_until,
            max(now + self._ttl, lease_until),
            claimed_at=wall if claimed_at is None else claimed_at,
            lease_end=wall + lease_seconds,
        )
        self._slots[key] = slot
        self._slots.move_to_end(key)
        return _entry(key, slot)

    def _sweep(self, now: float) -> None:
        slots = self._slots
        for _ in range(_SWEEP_BATCH):
            if not slots:
                return
            key = next(iter(slots))
            if slots[key].expires_at > now:
                return
            del slots[key]


def _exact(payload: bytes) -> bytes:
    """A copy of `payload` that holds only its own length.

    orjson (3.13) returns bytes that keep the whole buffer it grew while writing, not just
    what was written: 8 KiB for a 1 KiB result event, 32 KiB for a 3 KiB one. Kept for the
    TTL (7 days), that slack was most of the relay's memory growth per event.
    """
    return bytes(memoryview(payload))


def _check_lease(lease_seconds: float) -> None:
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")


def _entry(key: str, slot: _Slot) -> LedgerEntry:
    result = None if slot.result is None else orjson.loads(slot.result)
    return LedgerEntry(
        key, slot.state, slot.owner, slot.lease_until, result, slot.claimed_at, slot.lease_end
    )
