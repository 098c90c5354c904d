"""Pairing claims with list entries (`service.status.matching`): connected groups, and a
maximum matching with what it implies (augmenting paths, Kuhn's algorithm)."""

from __future__ import annotations

from collections import defaultdict


def components(claims: int, edges: list[list[int]]) -> list[tuple[list[int], list[int]]]:
    """Connected groups as (claimant indexes, entry indexes), in claimant order."""
    parent = list(range(claims))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_claim: dict[int, int] = {}
    for i, fitting in enumerate(edges):
        for j in fitting:
            if j in first_claim:
                parent[root(i)] = root(first_claim[j])
            else:
                first_claim[j] = i
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(claims):
        members[root(i)].append(i)
    owned: dict[int, list[int]] = defaultdict(list)
    for j, i in first_claim.items():
        owned[root(i)].append(j)
    return [(m, sorted(owned.get(r, []))) for r, m in members.items()]


class Matching:
    """A maximum matching from entries to claims (augmenting paths), and what it implies."""

    def __init__(self, adjacency: list[list[int]], entries: int) -> None:
        self._adjacency = adjacency  # claim -> entries it fits
        self._fitted_by: list[list[int]] = [[] for _ in range(entries)]
        for claim, fitting in enumerate(adjacency):
            for entry in fitting:
                self._fitted_by[entry].append(claim)
        self._claim_of: list[int | None] = [None] * entries
        self._entry_of: list[int | None] = [None] * len(adjacency)
        self._covered = all(self._augment(e, set(), None) for e in range(entries))

    def covers_all(self) -> bool:
        return self._covered

    def entry_of(self, claim: int) -> int:
        entry = self._entry_of[claim]
        assert entry is not None
        return entry

    def _augment(self, entry: int, seen: set[int], banned: tuple[int, int] | None) -> bool:
        for claim in self._fitted_by[entry]:
            if claim in seen or (claim, entry) == banned:
                continue
            seen.add(claim)
            held = self._entry_of[claim]
            if held is None or self._augment(held, seen, banned):
                self._entry_of[claim] = entry
                self._claim_of[entry] = claim
                return True
        return False

    def may_be_unmatched(self) -> set[int]:
        """Claims that some covering matching leaves unmatched: those reached from an
        unmatched claim by alternating paths (any edge to an entry, then its match)."""
        reached = {c for c, e in enumerate(self._entry_of) if e is None}
        frontier = list(reached)
        while frontier:
            claim = frontier.pop()
            for entry in self._adjacency[claim]:
                other = self._claim_of[entry]
                if other is not None and other not in reached:
                    reached.add(other)
                    frontier.append(other)
        return reached

    def unique(self, claim: int) -> bool:
        """Whether every covering matching gives `claim` the same entry: none is left
        once that pair is banned (the matching is restored either way)."""
        entry = self.entry_of(claim)
        saved = (list(self._claim_of), list(self._entry_of))
        self._entry_of[claim] = None
        self._claim_of[entry] = None
        other = self._augment(entry, set(), (claim, entry))
        self._claim_of, self._entry_of = saved
        return not other
