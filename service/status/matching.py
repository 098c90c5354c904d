"""The verdicts of reconciliation: which ambiguous batches Push.R's list shows as sent.

Pure functions of what one round saw; no I/O, no clock of their own (`now` is the ledger's).

**Who may own an entry.** A list entry *fits* a claim when it has the claim's text (trimmed,
as Push.R stores it), recipients count and sender id (a claim without one matches any: Push.R
then used the account's first approved sender), and its `created` (Push.R's processing time,
at the precision it is written: a whole second when there is no fraction) meets the claim's
window widened by the clock-skew margin on both sides. Entries already attributed to a
recorded result never take part. The claims are:

- *pending* batches (handed over as ambiguous), the ones judged;
- *lapsed* open claims (their owner died mid-call and nobody has taken them over yet): they
  may own an entry, so a group holding one waits until it becomes pending;
- *live* open claims (a request in the air): they may own an entry nobody attributed yet,
  so a group with an entry one of them fits waits until it is completed.

**Groups.** Claims and the entries they fit form a bipartite graph; each connected group is
judged as a whole, once every claim in it has *settled* (its window end + skew + the settle
time has passed, so that every entry it could have produced is in the list) and nothing
makes it wait. With no foreign sender on the account, every entry of a group was made by
exactly one of the group's claims, and each claim made at most one: the possible truths are
the matchings that cover every entry.

- **not sent**: a batch that fits no entry at all (a group of its own).
- **sent**: a batch matched in *every* covering matching: it certainly made one of them. Its
  Push.R id is given only when that entry is the same in every such matching; otherwise the
  batch is sent with no id (identical requests, as many entries as batches).
- **ambiguous**: a batch left unmatched by some covering matching (the same text, sender and
  count claimed by more batches than there are entries), or every batch of a group whose
  entries no matching covers (more entries than batches could have made: a foreign sender
  or a clock beyond the margin). Never guessed either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from service.ledger.pending import Signature, Verdict, text_digest
from service.status.list_reader import ListEntry
from service.status.pairing import Matching, components

# Beyond this many claims and entries in one group the matching is not worked out: the
# whole group is ambiguous (a safe answer, and a bounded round).
MAX_GROUP: Final = 400


@dataclass(frozen=True, slots=True)
class Claimant:
    key: str
    signature: Signature
    window_start: float  # epoch seconds, ledger clock
    window_end: float
    pending: bool  # True: judged; False: a lapsed open claim, a possible owner only


@dataclass(frozen=True, slots=True)
class Listed:
    """A list entry the reconciler can judge by."""

    id: int
    digest: str
    sender_id: str
    recipients_count: int
    created_from: float  # epoch seconds; Push.R's time, to its precision
    created_to: float
    cost: str | None
    status: str


@dataclass(frozen=True, slots=True)
class LiveClaim:
    signature: Signature
    claimed_at: float


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    message_id: int | None  # the one entry it made, when that is certain
    candidates: tuple[int, ...]  # ids of the entries it fits
    cost: str | None
    status: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Group:
    claimants: tuple[Claimant, ...]
    entries: tuple[Listed, ...]
    judgements: dict[str, Judgement]  # per pending batch key; empty while waiting
    waiting: str | None  # why the group is not judged this round


def parse_created(text: str) -> tuple[float, float] | None:
    """`created` as the interval of times it can stand for; None if it names no zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a local time of an unknown zone: no window can be judged by it
    clock = text.partition("T")[2] or text.partition(" ")[2]
    seconds = clock[6:].split("+")[0].split("-")[0].rstrip("Zz")
    digits = len(seconds.partition(".")[2])
    start = moment.timestamp()
    return start, start + 10.0**-digits


def listed(entry: ListEntry) -> Listed | None:
    """The entry as the matcher reads it; None when a field it needs is missing."""
    if entry.message is None or entry.sender_id is None or entry.recipients_count is None:
        return None
    if entry.created is None:
        return None
    created = parse_created(entry.created)
    if created is None:
        return None
    return Listed(
        entry.id,
        text_digest(entry.message),
        entry.sender_id,
        entry.recipients_count,
        created[0],
        created[1],
        entry.cost,
        entry.status,
    )


def fits(entry: Listed, signature: Signature, start: float, end: float, skew: float) -> bool:
    if entry.digest != signature.text_digest:
        return False
    if entry.recipients_count != signature.recipients_count:
        return False
    if signature.sender_id is not None and signature.sender_id != entry.sender_id:
        return False
    # [created_from, created_to) meets [start - skew, end + skew]
    return entry.created_to > start - skew and entry.created_from <= end + skew


def judge(
    claimants: Sequence[Claimant],
    entries: Sequence[Listed],
    live: Sequence[LiveClaim],
    *,
    now: float,
    skew: float,
    settle: float,
) -> list[Group]:
    """Every group that holds a pending batch, judged or with the reason it waits."""
    return _Round(claimants, entries, live, now=now, skew=skew, settle=settle).groups()


class _Round:
    def __init__(
        self,
        claimants: Sequence[Claimant],
        entries: Sequence[Listed],
        live: Sequence[LiveClaim],
        *,
        now: float,
        skew: float,
        settle: float,
    ) -> None:
        self.claimants = claimants
        self.entries = entries
        self.live = live
        self.now = now
        self.skew = skew
        self.settle = settle
        by_shape: dict[tuple[str, int], list[int]] = defaultdict(list)
        for j, entry in enumerate(entries):
            by_shape[(entry.digest, entry.recipients_count)].append(j)
        self.edges: list[list[int]] = []
        for c in claimants:
            shape = (c.signature.text_digest, c.signature.recipients_count)
            self.edges.append(
                [
                    j
                    for j in by_shape.get(shape, ())
                    if fits(entries[j], c.signature, c.window_start, c.window_end, skew)
                ]
            )

    def groups(self) -> list[Group]:
        found = []
        for members, owned in components(len(self.claimants), self.edges):
            if any(self.claimants[i].pending for i in members):
                found.append(self._judge(members, owned))
        return found

    def _judge(self, members: list[int], owned: list[int]) -> Group:
        claims = tuple(self.claimants[i] for i in members)
        here = tuple(self.entries[j] for j in owned)
        skew = self.skew
        if any(c.window_end + skew + self.settle > self.now for c in claims):
            return Group(claims, here, {}, "window_open")
        if not all(c.pending for c in claims):
            return Group(claims, here, {}, "lapsed_claim")  # an owner not yet handed over
        for claim in self.live:
            if any(fits(e, claim.signature, claim.claimed_at, float("inf"), skew) for e in here):
                return Group(claims, here, {}, "claim_in_flight")
        if len(members) + len(owned) > MAX_GROUP:
            return self._all_ambiguous(members, claims, here, "too many to pair")
        column = {j: n for n, j in enumerate(owned)}
        matching = Matching([[column[j] for j in self.edges[i]] for i in members], len(owned))
        if not matching.covers_all():
            why = f"{len(owned)} matching entries, more than {len(members)} request(s) could make"
            return self._all_ambiguous(members, claims, here, why)
        maybe_unsent = matching.may_be_unmatched()
        judgements: dict[str, Judgement] = {}
        for n, i in enumerate(members):
            fitting = [self.entries[j] for j in self.edges[i]]
            ids = tuple(e.id for e in fitting)
            if not fitting:
                judgement = Judgement(
                    Verdict.NOT_SENT,
                    None,
                    (),
                    None,
                    None,
                    "no matching Push.R message in its window",
                )
            elif n in maybe_unsent:
                why = f"{len(owned)} matching Push.R message(s) for {len(members)} request(s)"
                judgement = Judgement(Verdict.AMBIGUOUS, None, ids, None, None, why)
            else:
                entry = self.entries[owned[matching.entry_of(n)]]
                judgement = _sent(entry, fitting, unique=matching.unique(n))
            judgements[self.claimants[i].key] = judgement
        return Group(claims, here, judgements, None)

    def _all_ambiguous(
        self, members: list[int], claims: tuple[Claimant, ...], here: tuple[Listed, ...], why: str
    ) -> Group:
        judgements = {
            self.claimants[i].key: Judgement(
                Verdict.AMBIGUOUS,
                None,
                tuple(self.entries[j].id for j in self.edges[i]),
                None,
                None,
                why,
            )
            for i in members
        }
        return Group(claims, here, judgements, None)


def _sent(entry: Listed, fitting: list[Listed], *, unique: bool) -> Judgement:
    ids = tuple(e.id for e in fitting)
    if unique:
        return Judgement(
            Verdict.SENT,
            entry.id,
            ids,
            entry.cost,
            entry.status,
            f"Push.R message {entry.id} matches its text, sender, recipients count and window",
        )
    costs = {e.cost for e in fitting}
    return Judgement(
        Verdict.SENT,
        None,
        ids,
        costs.pop() if len(costs) == 1 else None,
        None,
        f"identical requests: one of Push.R messages {list(ids)[:10]}",
    )


def unattributed(entries: Iterable[Listed], attributed: set[int]) -> list[Listed]:
    return [e for e in entries if e.id not in attributed]
