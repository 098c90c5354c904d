"""The reconciliation half of the ledger contract (`ReconcilingLedger`), on every backend the
main contract runs on (memory on a ManualClock; Redis plain, TLS with an ACL user, and
through Sentinel with replica-confirmed writes), each built with reconcile=True.

Windows are on the backend's wall clock: the memory ledger's Clock, Redis `TIME`. Redis
times are compared with a tolerance that only a broken clock exceeds.
"""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from service.ledger import BatchState, ClaimStatus
from service.ledger.pending import (
    Decision,
    PendingContext,
    PendingState,
    Signature,
    Verdict,
)
from tests.contract.ledger_backends import LONG, PAST_SHORT, SHORT, Backend

RECONCILE_LEDGER = True  # the backends of this module keep what reconciliation needs
SIG = Signature.of("Your code is 4821", "PYWE", 1)
DEADLINE = 50.0
UNKNOWN = {"outcome": "unknown", "reconciliation": "pending"}


def context(event_id: str = "e1", delivery: str = "at_most_once") -> PendingContext:
    return PendingContext(
        event_id=event_id,
        idempotency_key=None,
        metadata={"order": "4711"},
        delivery=delivery,
        message="Your code is 4821",
        sender_id="PYWE",
        scheduled_at=None,
        expires_at=None,
        recipients=("233241234567",),
        batch_index=0,
        batch_count=1,
        units=1,
        recipients_accepted=1,
        recipients_rejected=0,
        why="ReadTimeout",
    )


async def handed_over(backend: Backend, key: str = "e1#0/1", owner: str = "a") -> float:
    """Claim `key` open and hand it over; the claim's time."""
    claim = await backend.ledger.claim_open(key, owner, LONG, SIG)
    assert claim.status is ClaimStatus.CLAIMED
    assert claim.entry is not None
    assert claim.entry.claimed_at is not None
    assert await backend.ledger.hand_over(
        key, owner, UNKNOWN, context(), window=None, deadline_seconds=DEADLINE
    )
    return claim.entry.claimed_at


async def test_an_open_claim_is_indexed_until_it_ends(backend: Backend) -> None:
    ledger = backend.ledger
    now = await ledger.now()
    claim = await ledger.claim_open("e1#0/1", "a", LONG, SIG)
    assert claim.entry is not None
    claimed_at = claim.entry.claimed_at
    assert claimed_at is not None
    assert claimed_at == pytest.approx(now, abs=1.0)
    assert claim.entry.lease_end == pytest.approx(claimed_at + LONG, abs=0.01)
    await ledger.claim_open("e2#0/1", "a", LONG, SIG)
    await ledger.claim("e3#0/1", "a", LONG)  # not open: no signature

    (found, other) = sorted(await ledger.open_claims(now + 5), key=lambda c: c.key)
    assert (found.key, found.signature, other.key) == ("e1#0/1", SIG, "e2#0/1")
    assert found.claimed_at == pytest.approx(claimed_at, abs=0.002)
    assert await ledger.open_claims(claimed_at - 1) == []

    assert await ledger.complete("e1#0/1", "a", BatchState.SENT, {"pushr_message_id": 41})
    assert await ledger.release("e2#0/1", "a")
    assert await ledger.open_claims(now + 5) == []


async def test_a_retried_claim_keeps_its_claim_time(backend: Backend) -> None:
    first = await backend.ledger.claim_open("k#0/1", "a", LONG, SIG)
    await backend.let_time_pass(PAST_SHORT)
    again = await backend.ledger.claim_open("k#0/1", "a", LONG, SIG)
    assert again.status is ClaimStatus.CLAIMED
    assert first.entry is not None
    assert again.entry is not None
    assert again.entry.claimed_at == pytest.approx(first.entry.claimed_at, abs=0.002)


async def test_a_takeover_returns_the_lapsed_window_and_opens_a_new_claim(backend: Backend) -> None:
    ledger = backend.ledger
    first = await ledger.claim_open("k#0/1", "a", SHORT, SIG)
    assert first.entry is not None
    claimed_at = first.entry.claimed_at
    assert claimed_at is not None
    await backend.let_time_pass(PAST_SHORT)
    taken = await ledger.claim_open("k#0/1", "b", LONG, SIG)
    assert taken.status is ClaimStatus.TAKEN_OVER
    assert taken.entry is not None
    assert taken.entry.claimed_at == pytest.approx(claimed_at, abs=0.002)
    assert taken.entry.lease_end == pytest.approx(claimed_at + SHORT, abs=0.01)
    (claim,) = await ledger.open_claims(await ledger.now())
    assert claim.claimed_at > claimed_at


async def test_completed_ids_are_attributed_and_pruned_by_age(backend: Backend) -> None:
    ledger = backend.ledger
    for key, message_id in (("a#0/1", 41), ("b#0/1", 42)):
        await ledger.claim_open(key, "o", LONG, SIG)
        assert await ledger.complete(key, "o", BatchState.SENT, {"pushr_message_id": message_id})
    await ledger.claim("c#0/1", "o", LONG)
    await ledger.complete("c#0/1", "o", BatchState.SENT, {"pushr_message_id": 43})
    assert await ledger.attributed([41, 42, 43, 44]) == {41, 42, 43}
    await ledger.prune_attributed((await ledger.now()) - 60)
    assert await ledger.attributed([41, 42]) == {41, 42}
    await ledger.prune_attributed((await ledger.now()) + 1)
    assert await ledger.attributed([41, 42, 43]) == set()


async def test_hand_over_makes_the_entry_unknown_and_records_the_window(backend: Backend) -> None:
    ledger = backend.ledger
    claimed_at = await handed_over(backend)
    entry = await ledger.get("e1#0/1")
    assert entry is not None
    assert (entry.state, entry.result) == (BatchState.UNKNOWN, UNKNOWN)
    (record,) = await ledger.pending()
    assert (record.key, record.context, record.state) == ("e1#0/1", context(), PendingState.PENDING)
    assert (record.verdict, record.generation) == (None, 1)
    assert record.window_start == pytest.approx(claimed_at, abs=0.002)
    assert record.window_end == pytest.approx(claimed_at + DEADLINE, abs=0.01)
    assert await ledger.open_claims(claimed_at + 1) == []
    # retried (its answer lost): the same answer, nothing new
    assert await ledger.hand_over(
        "e1#0/1", "a", UNKNOWN, context(), window=None, deadline_seconds=DEADLINE
    )
    assert [r.generation for r in await ledger.pending()] == [1]
    # a replay meets the unknown result
    assert (await ledger.claim("e1#0/1", "z", LONG)).status is ClaimStatus.DONE


async def test_a_pending_record_keeps_the_events_lane(backend: Backend) -> None:
    ledger = backend.ledger
    critical = replace(context(), priority="critical")
    await ledger.claim_open("k#0/1", "a", LONG, SIG)
    assert await ledger.hand_over(
        "k#0/1", "a", UNKNOWN, critical, window=None, deadline_seconds=DEADLINE
    )
    (record,) = await ledger.pending()
    assert record.context == critical


def test_a_record_written_before_lanes_were_kept_reads_on_the_default_lane() -> None:
    stored = orjson.loads(context().to_json())
    del stored["priority"]
    assert PendingContext.from_json(orjson.dumps(stored)).priority == "normal"
    stored["priority"] = "urgent"  # not a lane: the default, never a crash
    assert PendingContext.from_json(orjson.dumps(stored)).priority == "normal"


async def test_only_the_claims_owner_hands_over(backend: Backend) -> None:
    ledger = backend.ledger
    await ledger.claim_open("k#0/1", "a", LONG, SIG)
    assert not await ledger.hand_over(
        "k#0/1", "b", UNKNOWN, context(), window=None, deadline_seconds=DEADLINE
    )
    assert not await ledger.hand_over(
        "absent#0/1", "a", UNKNOWN, context(), window=None, deadline_seconds=DEADLINE
    )
    assert await ledger.pending() == []


async def test_a_lapsed_claims_window_is_kept_as_given(backend: Backend) -> None:
    ledger = backend.ledger
    await ledger.claim_open("k#0/1", "b", LONG, SIG)
    assert await ledger.hand_over(
        "k#0/1", "b", UNKNOWN, context(), window=(1000.0, 1004.5), deadline_seconds=DEADLINE
    )
    (record,) = await ledger.pending()
    assert (record.window_start, record.window_end) == (1000.0, 1004.5)


async def test_a_sent_verdict_settles_the_entry_and_attributes(backend: Backend) -> None:
    ledger = backend.ledger
    await handed_over(backend)
    result = {"outcome": "sent", "reconciled": True, "pushr_message_id": 7}
    decision = Decision("e1#0/1", 1, Verdict.SENT, BatchState.SENT, result)
    assert await ledger.decide([decision], [7, 8])
    entry = await ledger.get("e1#0/1")
    assert entry is not None
    assert (entry.state, entry.result) == (BatchState.SENT, result)
    (record,) = await ledger.pending()
    assert (record.state, record.verdict) == (PendingState.DECIDED, Verdict.SENT)
    assert await ledger.attributed([7, 8, 9]) == {7, 8}
    assert not await ledger.decide([decision], [])  # decided already
    await ledger.finish("e1#0/1", 1)
    assert await ledger.pending() == []


async def test_a_send_verdict_reopens_the_entry_for_one_send(backend: Backend) -> None:
    ledger = backend.ledger
    await handed_over(backend)
    assert await ledger.decide([Decision("e1#0/1", 1, Verdict.NOT_SENT, None, None)], [])
    assert await ledger.get("e1#0/1") is None
    (record,) = await ledger.pending()
    assert (record.state, record.verdict) == (PendingState.SENDING, Verdict.NOT_SENT)
    claim = await ledger.claim_open("e1#0/1", "r", LONG, SIG)
    assert claim.status is ClaimStatus.CLAIMED
    # the send is ambiguous again: a new generation, and the old one's finish keeps it
    assert await ledger.hand_over(
        "e1#0/1", "r", UNKNOWN, context(), window=None, deadline_seconds=DEADLINE
    )
    (record,) = await ledger.pending()
    assert (record.state, record.verdict, record.generation) == (PendingState.PENDING, None, 2)
    await ledger.finish("e1#0/1", 1)
    assert [r.generation for r in await ledger.pending()] == [2]
    await ledger.finish("e1#0/1", 2)
    assert await ledger.pending() == []


async def test_a_group_is_decided_all_or_nothing(backend: Backend) -> None:
    ledger = backend.ledger
    await handed_over(backend, "a#0/1")
    await handed_over(backend, "b#0/1")
    stale = [
        Decision("a#0/1", 1, Verdict.SENT, BatchState.SENT, {"outcome": "sent"}),
        Decision("b#0/1", 9, Verdict.NOT_SENT, None, None),  # not the generation read
    ]
    assert not await ledger.decide(stale, [7])
    for key in ("a#0/1", "b#0/1"):
        entry = await ledger.get(key)
        assert entry is not None
        assert entry.state is BatchState.UNKNOWN
    assert {r.state for r in await ledger.pending()} == {PendingState.PENDING}
    assert await ledger.attributed([7]) == set()


async def test_an_ambiguous_verdict_keeps_the_entry_unknown(backend: Backend) -> None:
    ledger = backend.ledger
    await handed_over(backend)
    result = {"outcome": "unknown", "reconciled": True, "reconciliation": "ambiguous"}
    assert await ledger.decide(
        [Decision("e1#0/1", 1, Verdict.AMBIGUOUS, BatchState.UNKNOWN, result)], [5]
    )
    entry = await ledger.get("e1#0/1")
    assert entry is not None
    assert (entry.state, entry.result) == (BatchState.UNKNOWN, result)


async def test_the_ledger_clock_is_a_wall_clock(backend: Backend) -> None:
    before = await backend.ledger.now()
    await backend.let_time_pass(PAST_SHORT)
    assert await backend.ledger.now() >= before + PAST_SHORT - 0.01
