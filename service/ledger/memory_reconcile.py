"""What the memory ledger keeps for reconciliation (see `service.ledger.pending`), in process.

One process, one event loop: no method awaits between reading and writing, so each is as
atomic as the Redis scripts it stands in for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from service.clock import Clock
from service.ledger.base import BatchState, Claim
from service.ledger.pending import (
    Decision,
    OpenClaim,
    PendingContext,
    PendingRecord,
    PendingState,
    Signature,
)

if TYPE_CHECKING:
    from service.ledger.memory import _Slot


@dataclass(slots=True)
class _Open:
    signature: Signature


class MemoryReconciliation:
    """Mixed into `MemoryLedger`: the pending records, open claims and attributed ids."""

    _clock: Clock
    _ttl: float
    _slots: OrderedDict[str, _Slot]

    def __init__(self, *, reconcile: bool) -> None:
        self._reconcile = reconcile
        self._open: dict[str, _Open] = {}
        self._pending: dict[str, tuple[PendingRecord, float]] = {}  # key -> (record, expiry)
        self._attributed: dict[int, float] = {}  # id -> when, in the order recorded

    # --- hooks the ledger's own operations call -------------------------------------------
    def _claim(
        self, key: str, owner: str, lease_seconds: float, signature: Signature | None
    ) -> Claim:
        raise NotImplementedError  # the ledger's

    def _live(self, key: str, now: float) -> _Slot | None:
        raise NotImplementedError  # the ledger's

    def _opened(self, key: str, signature: Signature | None) -> None:
        if signature is not None:
            self._open[key] = _Open(signature)

    def _closed(self, key: str, result: dict[str, Any] | None) -> None:
        self._open.pop(key, None)
        if self._reconcile and result is not None:
            message_id = result.get("pushr_message_id")
            if isinstance(message_id, int):
                self._attribute(message_id, self._clock.now())

    def _attribute(self, message_id: int, when: float) -> None:
        self._attributed.pop(message_id, None)  # to the end: the dict stays in time order
        self._attributed[message_id] = when

    # --- ReconcilingLedger ----------------------------------------------------------------
    async def claim_open(
        self, key: str, owner: str, lease_seconds: float, signature: Signature
    ) -> Claim:
        return self._claim(key, owner, lease_seconds, signature)

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
        slot = self._live(key, self._clock.monotonic())
        if slot is None or slot.owner != owner:
            return False
        if slot.state is BatchState.UNKNOWN and key in self._pending:
            return True  # a retried call
        if slot.state is not BatchState.CLAIMED:
            return False
        now = self._clock.now()
        start = slot.claimed_at if slot.claimed_at is not None else now
        start, end = window or (start, max(now, start + deadline_seconds))
        slot.state = BatchState.UNKNOWN
        slot.result = bytes(memoryview(orjson.dumps(result)))
        slot.expires_at = self._clock.monotonic() + self._ttl
        self._slots.move_to_end(key)
        self._open.pop(key, None)
        previous = self._pending.pop(key, None)
        generation = previous[0].generation + 1 if previous else 1
        record = PendingRecord(
            key, context, start, end, PendingState.PENDING, None, generation, now
        )
        self._pending[key] = (record, now + self._ttl)
        return True

    async def now(self) -> float:
        return self._clock.now()

    async def pending(self) -> list[PendingRecord]:
        now = self._clock.now()
        for key in [k for k, (_, expiry) in self._pending.items() if expiry <= now]:
            del self._pending[key]
        return [record for record, _ in self._pending.values()]

    async def open_claims(self, claimed_before: float) -> list[OpenClaim]:
        mono = self._clock.monotonic()
        found: list[OpenClaim] = []
        for key, held in list(self._open.items()):
            slot = self._live(key, mono)
            if slot is None or slot.state is not BatchState.CLAIMED:
                del self._open[key]  # completed behind the index's back (expired)
                continue
            claimed_at = slot.claimed_at if slot.claimed_at is not None else 0.0
            if claimed_at <= claimed_before:
                lease_end = slot.lease_end if slot.lease_end is not None else claimed_at
                found.append(OpenClaim(key, claimed_at, lease_end, held.signature))
        return found

    async def attributed(self, message_ids: Collection[int]) -> set[int]:
        return {m for m in message_ids if m in self._attributed}

    async def decide(self, decisions: Sequence[Decision], attribute: Collection[int]) -> bool:
        mono = self._clock.monotonic()
        for decision in decisions:
            held = self._pending.get(decision.key)
            slot = self._live(decision.key, mono)
            if held is None or slot is None or slot.state is not BatchState.UNKNOWN:
                return False
            record = held[0]
            if record.generation != decision.generation or record.state is not PendingState.PENDING:
                return False
        now = self._clock.now()
        for decision in decisions:
            record, expiry = self._pending[decision.key]
            if decision.final is None:
                del self._slots[decision.key]  # reopened: claimable for the one send
                state = PendingState.SENDING
            else:
                slot = self._slots[decision.key]
                slot.state = decision.final
                slot.result = bytes(memoryview(orjson.dumps(decision.result)))
                slot.expires_at = mono + self._ttl
                self._slots.move_to_end(decision.key)
                state = PendingState.DECIDED
            self._pending[decision.key] = (
                replace(record, state=state, verdict=decision.verdict),
                expiry,
            )
        for message_id in attribute:
            self._attribute(message_id, now)
        return True

    async def finish(self, key: str, generation: int) -> None:
        held = self._pending.get(key)
        if held is not None and held[0].generation == generation:
            del self._pending[key]

    async def prune_attributed(self, before: float) -> None:
        for message_id, when in list(self._attributed.items()):
            if when >= before:
                break
            del self._attributed[message_id]
