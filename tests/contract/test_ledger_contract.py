"""One contract, every ledger backend: what the delivery engine may rely on.

Memory runs on a ManualClock. Redis runs on real servers, three ways: plain TCP; TLS with
an ACL user confined to the relay's keys; and through Sentinel (TLS, ACL, a sentinel
password) with every write confirmed by the replica (`WAIT`). Redis leases follow Redis
`TIME`: lapses use short real leases (150 ms) and a wait well past them, and every
"still live" assertion uses a long lease, so a slow machine can only make a lapse more
certain, never fake one. The backends are in `conftest.py`; what only Redis does (failures,
housekeeping) is in `test_redis_ledger.py`.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from service.ledger import BatchState, ClaimStatus
from tests.contract.ledger_backends import FINALS, LONG, PAST_SHORT, RESULT, SHORT, Backend


async def test_claim_new_busy_and_same_owner(backend: Backend) -> None:
    ledger = backend.ledger
    first = await ledger.claim("k", "a", LONG)
    assert first.status is ClaimStatus.CLAIMED
    assert first.entry is not None
    assert (first.entry.state, first.entry.owner) == (BatchState.CLAIMED, "a")

    busy = await ledger.claim("k", "b", LONG)
    assert busy.status is ClaimStatus.BUSY
    assert busy.entry is not None
    assert busy.entry.owner == "a"
    assert busy.entry.lease_until == pytest.approx(first.entry.lease_until, abs=0.002)

    # A retried claim (its first answer lost) must not lock its own owner out.
    again = await ledger.claim("k", "a", LONG)
    assert again.status is ClaimStatus.CLAIMED

    entry = await ledger.get("k")
    assert entry is not None
    assert (entry.state, entry.owner, entry.result) == (BatchState.CLAIMED, "a", None)
    assert await ledger.get("other") is None


@pytest.mark.parametrize("state", FINALS)
async def test_final_entry_is_replayed_never_reclaimed(backend: Backend, state: BatchState) -> None:
    ledger = backend.ledger
    await ledger.claim("k", "a", LONG)
    assert await ledger.complete("k", "a", state, RESULT)

    entry = await ledger.get("k")
    assert entry is not None
    assert (entry.state, entry.owner, entry.result) == (state, "a", RESULT)

    for owner in ("a", "b"):
        claim = await ledger.claim("k", owner, LONG)
        assert claim.status is ClaimStatus.DONE
        assert claim.entry is not None
        assert (claim.entry.state, claim.entry.result) == (state, RESULT)
    assert not await ledger.release("k", "a")
    assert not await ledger.renew("k", "a", LONG)


async def test_final_entry_outlives_its_lease(backend: Backend) -> None:
    await backend.ledger.claim("k", "a", SHORT)
    await backend.ledger.complete("k", "a", BatchState.REJECTED, RESULT)
    await backend.let_time_pass(PAST_SHORT)
    assert (await backend.ledger.claim("k", "b", SHORT)).status is ClaimStatus.DONE


async def test_complete_is_compare_and_set_on_owner(backend: Backend) -> None:
    ledger = backend.ledger
    assert not await ledger.complete("absent", "a", BatchState.SENT, RESULT)
    await ledger.claim("k", "a", LONG)
    assert not await ledger.complete("k", "b", BatchState.SENT, RESULT)
    entry = await ledger.get("k")
    assert entry is not None
    assert entry.state is BatchState.CLAIMED

    with pytest.raises(ValueError, match="final state"):
        await ledger.complete("k", "a", BatchState.CLAIMED, RESULT)


async def test_retried_complete_is_idempotent(backend: Backend) -> None:
    ledger = backend.ledger
    await ledger.claim("k", "a", LONG)
    assert await ledger.complete("k", "a", BatchState.SENT, RESULT)
    assert await ledger.complete("k", "a", BatchState.SENT, {"other": 1})
    assert not await ledger.complete("k", "a", BatchState.UNKNOWN, RESULT)
    entry = await ledger.get("k")
    assert entry is not None
    assert (entry.state, entry.result) == (BatchState.SENT, RESULT)


async def test_stored_result_is_a_copy(backend: Backend) -> None:
    result: dict[str, Any] = {"outcome": "sent", "ids": [1]}
    await backend.ledger.claim("k", "a", LONG)
    await backend.ledger.complete("k", "a", BatchState.SENT, result)
    result["ids"].append(2)
    entry = await backend.ledger.get("k")
    assert entry is not None
    assert entry.result == {"outcome": "sent", "ids": [1]}


async def test_lapsed_lease_is_taken_over_and_old_owner_loses(backend: Backend) -> None:
    ledger = backend.ledger
    first = await ledger.claim("k", "a", SHORT)
    assert first.entry is not None
    await backend.let_time_pass(PAST_SHORT)

    taken = await ledger.claim("k", "b", LONG)
    assert taken.status is ClaimStatus.TAKEN_OVER
    assert taken.entry is not None
    assert (taken.entry.state, taken.entry.owner) == (BatchState.CLAIMED, "a")
    assert taken.entry.lease_until == pytest.approx(first.entry.lease_until, abs=0.002)

    assert (await ledger.claim("k", "c", LONG)).status is ClaimStatus.BUSY
    assert not await ledger.complete("k", "a", BatchState.SENT, RESULT)
    assert not await ledger.renew("k", "a", LONG)
    assert not await ledger.release("k", "a")
    assert await ledger.complete("k", "b", BatchState.UNKNOWN, {"outcome": "unknown"})
    entry = await ledger.get("k")
    assert entry is not None
    assert (entry.state, entry.owner) == (BatchState.UNKNOWN, "b")


async def test_own_lapsed_lease_is_ambiguous_too(backend: Backend) -> None:
    # The owner may have been cancelled mid-request and come back: the SMS may have left.
    await backend.ledger.claim("k", "a", SHORT)
    await backend.let_time_pass(PAST_SHORT)
    again = await backend.ledger.claim("k", "a", LONG)
    assert again.status is ClaimStatus.TAKEN_OVER
    assert again.entry is not None
    assert again.entry.owner == "a"


async def test_owner_may_complete_a_lapsed_lease_nobody_took(backend: Backend) -> None:
    await backend.ledger.claim("k", "a", SHORT)
    await backend.let_time_pass(PAST_SHORT)
    assert await backend.ledger.complete("k", "a", BatchState.SENT, RESULT)
    assert (await backend.ledger.claim("k", "b", LONG)).status is ClaimStatus.DONE


async def test_release_frees_the_batch(backend: Backend) -> None:
    ledger = backend.ledger
    await ledger.claim("k", "a", LONG)
    assert not await ledger.release("k", "b")
    assert await ledger.release("k", "a")
    assert await ledger.get("k") is None
    assert not await ledger.release("k", "a")
    assert (await ledger.claim("k", "b", LONG)).status is ClaimStatus.CLAIMED


async def test_renew_extends_the_lease(backend: Backend) -> None:
    ledger = backend.ledger
    first = await ledger.claim("k", "a", SHORT)
    assert first.entry is not None
    assert not await ledger.renew("k", "b", LONG)
    assert not await ledger.renew("absent", "a", LONG)
    assert await ledger.renew("k", "a", LONG)

    entry = await ledger.get("k")
    assert entry is not None
    assert entry.lease_until >= first.entry.lease_until + LONG - SHORT - 0.002
    await backend.let_time_pass(PAST_SHORT)
    assert (await ledger.claim("k", "b", LONG)).status is ClaimStatus.BUSY


async def test_final_entries_expire_after_ttl(backend: Backend) -> None:
    await backend.ledger.claim("k", "a", LONG)
    await backend.ledger.complete("k", "a", BatchState.SENT, RESULT)
    await backend.assert_expires_after_ttl("k")


async def test_claims_expire_after_ttl(backend: Backend) -> None:
    await backend.ledger.claim("k", "a", LONG)
    await backend.assert_expires_after_ttl("k")


async def test_keys_are_independent(backend: Backend) -> None:
    ledger = backend.ledger
    assert (await ledger.claim("e1#0/2", "a", LONG)).status is ClaimStatus.CLAIMED
    assert (await ledger.claim("e1#1/2", "b", LONG)).status is ClaimStatus.CLAIMED
    assert await ledger.complete("e1#0/2", "a", BatchState.SENT, RESULT)
    entry = await ledger.get("e1#1/2")
    assert entry is not None
    assert entry.state is BatchState.CLAIMED


async def test_exactly_one_of_many_concurrent_claims_wins(backend: Backend) -> None:
    owners = [f"replica-{i}" for i in range(50)]
    claims = await asyncio.gather(*(backend.ledger.claim("hot", o, LONG) for o in owners))
    winners = [o for o, c in zip(owners, claims, strict=True) if c.status is ClaimStatus.CLAIMED]
    assert len(winners) == 1
    assert sum(c.status is ClaimStatus.BUSY for c in claims) == 49
    entry = await backend.ledger.get("hot")
    assert entry is not None
    assert entry.owner == winners[0]


async def test_ping(backend: Backend) -> None:
    assert await backend.ledger.ping()


@pytest.mark.parametrize("seed", range(3))
async def test_random_operations_match_a_model(backend: Backend, seed: int) -> None:
    """Claims, completes, renews and releases in any order, checked against a tiny model."""
    rng = random.Random(seed)
    ledger = backend.ledger
    model: dict[str, tuple[BatchState, str]] = {}
    for _ in range(150):
        key, owner = rng.choice("xyz"), rng.choice("abc")
        held = model.get(key)
        op = rng.choice(("claim", "complete", "renew", "release", "get"))
        if op == "claim":
            claim = await ledger.claim(key, owner, LONG)
            if held is None:
                expected, model[key] = ClaimStatus.CLAIMED, (BatchState.CLAIMED, owner)
            elif held[0] is not BatchState.CLAIMED:
                expected = ClaimStatus.DONE
            else:
                expected = ClaimStatus.CLAIMED if held[1] == owner else ClaimStatus.BUSY
            assert claim.status is expected
        elif op == "complete":
            state = rng.choice(FINALS)
            ok = await ledger.complete(key, owner, state, {"s": state.value})
            want = held is not None and held[1] == owner and held[0] in (BatchState.CLAIMED, state)
            assert ok is want
            if ok:
                model[key] = (state, owner)
        elif op in ("renew", "release"):
            ok = await (
                ledger.renew(key, owner, LONG) if op == "renew" else ledger.release(key, owner)
            )
            assert ok is (held == (BatchState.CLAIMED, owner))
            if ok and op == "release":
                del model[key]
        else:
            entry = await ledger.get(key)
            assert (None if entry is None else (entry.state, entry.owner)) == held
