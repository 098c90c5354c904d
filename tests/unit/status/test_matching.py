"""The matcher's verdicts, case by case, on a ManualClock: every ambiguity the rules name,
and the waits that keep a verdict from being a guess."""

from __future__ import annotations

import time

import pytest

from service.clock import ManualClock
from service.ledger.pending import Signature, Verdict
from service.status.list_reader import ListEntry
from service.status.matching import (
    MAX_GROUP,
    Claimant,
    Group,
    Listed,
    LiveClaim,
    judge,
    listed,
    parse_created,
)

SKEW = 2.0
SETTLE = 10.0
OTP = "Your code is 4821"
BULK = "Big sale this weekend at Osu"


def stamp(epoch: float, *, fraction: bool = False) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int(epoch % 1 * 1_000_000):06d}Z" if fraction else f"{whole}Z"


def entry(
    message_id: int,
    at: float,
    text: str = OTP,
    count: int = 1,
    sender: str = "PYWE",
    cost: str = "0.03",
) -> Listed:
    found = listed(
        ListEntry(message_id, "sent", text, sender, count, cost, stamp(at, fraction=True))
    )
    assert found is not None
    return found


def batch(
    key: str,
    start: float,
    end: float,
    text: str = OTP,
    count: int = 1,
    sender: str | None = "PYWE",
    pending: bool = True,
) -> Claimant:
    return Claimant(key, Signature.of(text, sender, count), start, end, pending)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def run(
    clock: ManualClock,
    claimants: list[Claimant],
    entries: list[Listed],
    live: list[LiveClaim] | None = None,
    *,
    settled: bool = True,
) -> list[Group]:
    if settled:  # past every window, its skew and the settle time
        clock.advance(max(c.window_end for c in claimants) - clock.now() + SKEW + SETTLE + 1)
    return judge(claimants, entries, live or [], now=clock.now(), skew=SKEW, settle=SETTLE)


def verdicts(groups: list[Group]) -> dict[str, tuple[Verdict, int | None]]:
    return {k: (j.verdict, j.message_id) for g in groups for k, j in g.judgements.items()}


def test_one_entry_in_the_window_is_sent_with_its_id_cost_and_status(clock) -> None:
    t = clock.now()
    (group,) = run(clock, [batch("a#0/1", t, t + 5)], [entry(7, t + 1, cost="0.06")])
    judgement = group.judgements["a#0/1"]
    assert (judgement.verdict, judgement.message_id) == (Verdict.SENT, 7)
    assert (judgement.cost, judgement.status, judgement.candidates) == ("0.06", "sent", (7,))


def test_nothing_in_a_settled_window_is_not_sent(clock) -> None:
    t = clock.now()
    other_text = entry(8, t + 1, text="Another message")
    groups = run(clock, [batch("a#0/1", t, t + 5)], [other_text])
    assert verdicts(groups) == {"a#0/1": (Verdict.NOT_SENT, None)}


def test_no_verdict_before_window_skew_and_settle_have_passed(clock) -> None:
    t = clock.now()
    claim = batch("a#0/1", t, t + 5)
    clock.advance(5 + SKEW + SETTLE - 0.5)
    (group,) = judge([claim], [], [], now=clock.now(), skew=SKEW, settle=SETTLE)
    assert (group.waiting, group.judgements) == ("window_open", {})
    clock.advance(1)
    (group,) = judge([claim], [], [], now=clock.now(), skew=SKEW, settle=SETTLE)
    assert group.judgements["a#0/1"].verdict is Verdict.NOT_SENT


@pytest.mark.parametrize(
    ("offset", "fits"),
    [
        (-SKEW - 0.01, False),  # before the claim by more than the skew
        (-SKEW + 0.01, True),  # within the skew before the claim
        (5 + SKEW - 0.01, True),  # within the skew after the deadline
        (5 + SKEW + 0.01, False),
    ],
)
def test_the_window_is_widened_by_the_skew_on_both_sides(clock, offset, fits) -> None:
    t = clock.now()
    groups = run(clock, [batch("a#0/1", t, t + 5)], [entry(7, t + offset)])
    assert verdicts(groups)["a#0/1"][0] is (Verdict.SENT if fits else Verdict.NOT_SENT)


def test_a_whole_second_created_stands_for_the_whole_second(clock) -> None:
    t = float(int(clock.now()))
    # Push.R writes 10:30:00Z for anything in [10:30:00, 10:30:01): a claim made at
    # 10:30:00.9 + skew may own it
    whole = listed(ListEntry(7, "sent", OTP, "PYWE", 1, "0.03", stamp(t)))
    assert whole is not None
    claim = batch("a#0/1", t + 0.9 + SKEW, t + 10)
    assert verdicts(run(clock, [claim], [whole]))["a#0/1"] == (Verdict.SENT, 7)
    later = batch("b#0/1", t + 1.0 + SKEW + 0.01, t + 10)
    assert verdicts(run(clock, [later], [whole]))["b#0/1"][0] is Verdict.NOT_SENT


def test_same_text_two_batches_one_entry_stays_ambiguous(clock) -> None:
    t = clock.now()
    groups = run(
        clock,
        [batch("a#0/1", t, t + 5, BULK), batch("b#0/1", t + 1, t + 6, BULK)],
        [entry(7, t + 2, BULK)],
    )
    assert verdicts(groups) == {
        "a#0/1": (Verdict.AMBIGUOUS, None),
        "b#0/1": (Verdict.AMBIGUOUS, None),
    }


def test_same_text_as_many_entries_as_batches_are_all_sent_without_a_guessed_id(clock) -> None:
    t = clock.now()
    (group,) = run(
        clock,
        [batch("a#0/1", t, t + 5, BULK), batch("b#0/1", t + 1, t + 6, BULK)],
        [entry(7, t + 2, BULK), entry(8, t + 3, BULK)],
    )
    assert verdicts([group]) == {"a#0/1": (Verdict.SENT, None), "b#0/1": (Verdict.SENT, None)}
    assert group.judgements["a#0/1"].cost == "0.03"  # the same for every candidate
    assert {e.id for e in group.entries} == {7, 8}


def test_disjoint_windows_pair_identical_texts_one_to_one(clock) -> None:
    t = clock.now()
    groups = run(
        clock,
        [batch("a#0/1", t, t + 5, BULK), batch("b#0/1", t + 20, t + 25, BULK)],
        [entry(7, t + 2, BULK), entry(8, t + 22, BULK)],
    )
    assert verdicts(groups) == {"a#0/1": (Verdict.SENT, 7), "b#0/1": (Verdict.SENT, 8)}


def test_a_forced_pairing_gives_ids_even_with_overlapping_windows(clock) -> None:
    t = clock.now()
    # entry 7 fits both, entry 8 fits only b: b must own 8, so a owns 7
    groups = run(
        clock,
        [batch("a#0/1", t, t + 5, BULK), batch("b#0/1", t + 3, t + 20, BULK)],
        [entry(7, t + 4, BULK), entry(8, t + 15, BULK)],
    )
    assert verdicts(groups) == {"a#0/1": (Verdict.SENT, 7), "b#0/1": (Verdict.SENT, 8)}


def test_three_batches_two_entries_leaves_only_the_forced_one_sent(clock) -> None:
    t = clock.now()
    # a alone fits entry 9 (a later window); b and c share entry 7
    groups = run(
        clock,
        [
            batch("a#0/1", t + 30, t + 35, BULK),
            batch("b#0/1", t, t + 5, BULK),
            batch("c#0/1", t, t + 5, BULK),
        ],
        [entry(7, t + 1, BULK), entry(9, t + 31, BULK)],
    )
    assert verdicts(groups) == {
        "a#0/1": (Verdict.SENT, 9),
        "b#0/1": (Verdict.AMBIGUOUS, None),
        "c#0/1": (Verdict.AMBIGUOUS, None),
    }


def test_more_entries_than_batches_is_ambiguous_never_sent(clock) -> None:
    t = clock.now()
    groups = run(clock, [batch("a#0/1", t, t + 5)], [entry(7, t + 1), entry(8, t + 2)])
    assert verdicts(groups) == {"a#0/1": (Verdict.AMBIGUOUS, None)}


def test_a_missing_sender_matches_the_accounts_default_and_any_other(clock) -> None:
    t = clock.now()
    assert verdicts(run(clock, [batch("a#0/1", t, t + 5, sender=None)], [entry(7, t + 1)])) == {
        "a#0/1": (Verdict.SENT, 7)
    }
    other = batch("b#0/1", t, t + 5, sender="PushR")
    assert verdicts(run(clock, [other], [entry(7, t + 1)])) == {"b#0/1": (Verdict.NOT_SENT, None)}


def test_a_default_sender_batch_shares_the_ambiguity_of_a_named_one(clock) -> None:
    t = clock.now()
    groups = run(
        clock,
        [batch("a#0/1", t, t + 5, sender=None), batch("b#0/1", t, t + 5, sender="PYWE")],
        [entry(7, t + 1)],
    )
    assert {v for v, _ in verdicts(groups).values()} == {Verdict.AMBIGUOUS}


def test_another_recipients_count_or_text_is_not_a_match(clock) -> None:
    t = clock.now()
    claims = [batch("a#0/1", t, t + 5, count=100)]
    found = [entry(7, t + 1, count=99), entry(8, t + 1, text=OTP + ".")]
    assert verdicts(run(clock, claims, found)) == {"a#0/1": (Verdict.NOT_SENT, None)}


def test_surrounding_whitespace_is_trimmed_as_push_r_stores_it(clock) -> None:
    t = clock.now()
    groups = run(clock, [batch("a#0/1", t, t + 5, text=f"  {OTP}\n")], [entry(7, t + 1)])
    assert verdicts(groups) == {"a#0/1": (Verdict.SENT, 7)}


def test_a_lapsed_claim_that_may_own_the_entry_makes_the_group_wait(clock) -> None:
    t = clock.now()
    lapsed = batch("dead#0/1", t, t + 4, BULK, pending=False)
    (group,) = run(clock, [batch("a#0/1", t, t + 5, BULK), lapsed], [entry(7, t + 1, BULK)])
    assert (group.waiting, group.judgements) == ("lapsed_claim", {})


def test_a_lapsed_claim_alone_is_not_judged(clock) -> None:
    t = clock.now()
    lapsed = batch("dead#0/1", t, t + 4, pending=False)
    assert run(clock, [lapsed], [entry(7, t + 1)]) == []


def test_a_live_claim_that_may_own_an_entry_makes_the_group_wait(clock) -> None:
    t = clock.now()
    claim = [batch("a#0/1", t, t + 5, BULK)]
    found = [entry(7, t + 2, BULK)]
    in_flight = LiveClaim(Signature.of(BULK, "PYWE", 1), t + 1)
    (group,) = run(clock, claim, found, [in_flight])
    assert group.waiting == "claim_in_flight"
    # a claim made after the entry (beyond the skew) cannot own it
    later = LiveClaim(Signature.of(BULK, "PYWE", 1), t + 2 + SKEW + 1.5)
    (group,) = run(clock, claim, found, [later])
    assert group.judgements["a#0/1"].verdict is Verdict.SENT
    # nor can one of another text
    other = LiveClaim(Signature.of(OTP, "PYWE", 1), t)
    (group,) = run(clock, claim, found, [other])
    assert group.judgements["a#0/1"].verdict is Verdict.SENT


def test_a_live_claim_cannot_hide_a_not_sent(clock) -> None:
    t = clock.now()
    in_flight = LiveClaim(Signature.of(OTP, "PYWE", 1), t)
    (group,) = run(clock, [batch("a#0/1", t, t + 5)], [], [in_flight])
    assert group.judgements["a#0/1"].verdict is Verdict.NOT_SENT


def test_groups_are_judged_apart(clock) -> None:
    t = clock.now()
    groups = run(
        clock,
        [batch("a#0/1", t, t + 5), batch("b#0/1", t, t + 5, BULK), batch("c#0/1", t, t + 5, BULK)],
        [entry(7, t + 1), entry(8, t + 1, BULK)],
    )
    assert len(groups) == 2
    assert verdicts(groups) == {
        "a#0/1": (Verdict.SENT, 7),
        "b#0/1": (Verdict.AMBIGUOUS, None),
        "c#0/1": (Verdict.AMBIGUOUS, None),
    }


def test_a_group_too_large_to_pair_is_ambiguous(clock) -> None:
    t = clock.now()
    size = MAX_GROUP // 2 + 1
    claims = [batch(f"e{i}#0/1", t, t + 5, BULK) for i in range(size)]
    found = [entry(i, t + 1, BULK) for i in range(size)]
    assert {v for v, _ in verdicts(run(clock, claims, found)).values()} == {Verdict.AMBIGUOUS}


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("2024-01-15T10:30:00Z", 1.0),
        ("2024-01-15T10:30:00.5Z", 0.1),
        ("2024-01-15T10:30:00.123456+00:00", 1e-6),
        ("2024-01-15T12:30:00+02:00", 1.0),
    ],
)
def test_created_is_read_at_its_precision(text, width) -> None:
    found = parse_created(text)
    assert found is not None
    start, end = found
    assert int(start) == 1705314600
    assert end - start == pytest.approx(width, abs=1e-7)  # epoch floats: microseconds


@pytest.mark.parametrize("text", ["2024-01-15T10:30:00", "yesterday", ""])
def test_created_without_a_zone_or_a_date_is_not_judged_by(text) -> None:
    assert parse_created(text) is None


def test_an_entry_missing_a_field_is_not_judged_by() -> None:
    full = ListEntry(7, "sent", OTP, "PYWE", 1, "0.03", "2024-01-15T10:30:00Z")
    assert listed(full) is not None
    for gap in (
        ListEntry(7, "sent", None, "PYWE", 1, "0.03", "2024-01-15T10:30:00Z"),
        ListEntry(7, "sent", OTP, None, 1, "0.03", "2024-01-15T10:30:00Z"),
        ListEntry(7, "sent", OTP, "PYWE", None, "0.03", "2024-01-15T10:30:00Z"),
        ListEntry(7, "sent", OTP, "PYWE", 1, "0.03", None),
    ):
        assert listed(gap) is None
