"""MemoryLedger specifics beyond the shared contract: bounded memory and argument checks."""

from __future__ import annotations

import tracemalloc

import orjson
import pytest

from service.clock import ManualClock
from service.ledger import BatchState, ClaimStatus, MemoryLedger

TTL = 100.0


async def test_expired_entries_are_reclaimed_without_being_read() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, TTL)
    for i in range(1000):
        await ledger.claim(f"old{i}", "a", 1.0)
        await ledger.complete(f"old{i}", "a", BatchState.SENT, {"i": i})
    assert len(ledger) == 1000
    clock.advance(TTL)
    # Ordinary traffic, never touching the old keys, wears the backlog down.
    for i in range(100):
        await ledger.claim(f"new{i}", "a", 1.0)
    assert len(ledger) == 100


async def test_a_rewritten_entry_lives_a_full_ttl_from_its_last_write() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, TTL)
    await ledger.claim("k", "a", 1.0)
    clock.advance(TTL - 1)
    await ledger.complete("k", "a", BatchState.SENT, {})
    clock.advance(TTL - 1)
    for i in range(50):  # sweeps run; "k" must survive them
        await ledger.claim(f"x{i}", "a", 1.0)
    assert (await ledger.claim("k", "b", 1.0)).status is ClaimStatus.DONE


async def test_a_lease_longer_than_the_ttl_keeps_its_claim() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, TTL)
    await ledger.claim("k", "a", TTL * 2)
    clock.advance(TTL + 1)
    assert (await ledger.claim("k", "b", 1.0)).status is ClaimStatus.BUSY


async def test_rejects_nonsense_arguments() -> None:
    with pytest.raises(ValueError, match="ttl"):
        MemoryLedger(ManualClock(), 0)
    ledger = MemoryLedger(ManualClock(), TTL)
    with pytest.raises(ValueError, match="lease"):
        await ledger.claim("k", "a", 0)
    with pytest.raises(TypeError):
        await ledger.complete("k", "a", BatchState.SENT, {"bad": object()})


async def test_a_stored_result_costs_about_its_json_size() -> None:
    # orjson's bytes keep their whole write buffer, several times a small result's size; kept
    # for the TTL, that slack would grow the relay's memory with every event it handles.
    clock = ManualClock()
    ledger = MemoryLedger(clock, TTL)
    result = {"event_id": "e", "detail": "x" * 1000}
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(200):
            await ledger.claim(f"k{i}", "a", 1.0)
            await ledger.complete(f"k{i}", "a", BatchState.SENT, result)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_entry = (after - before) / 200
    assert per_entry < 2 * len(orjson.dumps(result))
    entry = await ledger.get("k0")
    assert entry is not None
    assert entry.result == result
