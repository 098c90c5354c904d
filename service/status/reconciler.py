"""The reconciler: verdicts for ambiguous batches from Push.R's own message list.

It runs inside the status poller's rounds, on the replica that holds the poller's lease, and
the list is read once per round for both (paging stops at the oldest point either needs):

    begin()   ledger time, pending records, open claims; the oldest `created` it needs
    take()    each page's entries, while the poller pages
    finish()  judge the groups that can be judged (`service.status.matching`), commit each
              group's verdicts in one ledger write, then make them known (`settle.py`)

Everything it knows lives in the ledger (Redis: shared; memory: this process), so a relay
that dies mid-round loses nothing: the next lease holder reads the same records. A verdict
is committed before anything is published or sent, and a record is dropped only after its
story is published; a round cut short (lease lost, a page unreadable) judges nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from service.contract.events import ResultOutcome
from service.ledger.base import BatchState
from service.ledger.pending import (
    Decision,
    OpenClaim,
    PendingRecord,
    PendingState,
    Verdict,
)
from service.observability.logging import get_logger
from service.status.list_reader import ListEntry
from service.status.matching import Claimant, Group, Judgement, Listed, LiveClaim, judge, listed
from service.status.settle import Settler

log = get_logger(__name__)

# Sends a round starts at once; the rest wait their turn (the handler's sends go first).
MAX_SENDS: Final = 8
# Attributions older than the oldest window by this much more than the skew are forgotten.
PRUNE_MARGIN_SECONDS: Final = 60.0


class Reconciler:
    def __init__(
        self,
        settler: Settler,
        *,
        skew_seconds: float,
        settle_seconds: float,
        deadline_seconds: float,
    ) -> None:
        self._settler = settler
        self._deadline = deadline_seconds
        self._ledger = settler.ledger
        self._metrics = settler.metrics
        self._clock = settler.clock
        self._skew = skew_seconds
        self._settle = settle_seconds
        self._sends: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(MAX_SENDS)
        self._now = 0.0
        self._records: list[PendingRecord] = []
        self._open: list[OpenClaim] = []
        self._need: float | None = None
        self._seen: list[Listed] = []
        self._unreadable = 0

    # --- one round ------------------------------------------------------------------------
    async def begin(self) -> float | None:
        """Snapshot the ledger; the oldest `created` (epoch s) the round must read back to,
        or None when nothing waits for a verdict."""
        self._now = await self._ledger.now()
        self._records = await self._ledger.pending()
        self._open = await self._ledger.open_claims(self._now)
        self._seen, self._unreadable = [], 0
        pending = [r for r in self._records if r.state is PendingState.PENDING]
        starts = [r.window_start for r in pending]
        starts += [c.claimed_at for c in self._open if c.lease_end <= self._now]
        # a second before: `created` may be written to the whole second only
        self._need = min(starts) - self._skew - 1.0 if pending and starts else None
        return self._need

    def take(self, entries: Sequence[ListEntry]) -> None:
        for entry in entries:
            found = listed(entry)
            if found is None:
                self._unreadable += 1
            else:
                self._seen.append(found)

    def reached(self, entries: Sequence[ListEntry]) -> bool:
        """Whether a page (newest first) reaches back past what the round needs."""
        if self._need is None or not entries:
            return True
        if any(listed(e) is None for e in entries):
            return True  # an entry the matcher cannot read: this round judges nothing anyway
        oldest = [found.created_from for e in entries if (found := listed(e)) is not None]
        return bool(oldest) and min(oldest) < self._need

    async def finish(self, *, complete: bool) -> None:
        """Judge (when the list was read far enough), commit, then publish and send."""
        pending = [r for r in self._records if r.state is PendingState.PENDING]
        waiting: dict[str, int] = {}
        if pending and not complete:
            waiting["list_incomplete"] = len(pending)
        elif pending and self._unreadable:
            waiting["list_unreadable"] = len(pending)
            log.warning("reconcile_list_unreadable", entries=self._unreadable)
        elif pending:
            for group in await self._judge(pending):
                if group.waiting is not None:
                    count = sum(1 for c in group.claimants if c.pending)
                    waiting[group.waiting] = waiting.get(group.waiting, 0) + count
                else:
                    await self._commit(group, {r.key: r for r in pending})
        for record in await self._ledger.pending():
            if record.state is PendingState.DECIDED:
                await self._publish(record)
            elif record.state is PendingState.SENDING:
                self._start_send(record)
        self._gauges(await self._ledger.pending(), waiting)
        await self._prune()

    async def drain(self) -> None:
        """Wait for the sends this round started (their stories published, or left to a
        later round)."""
        await asyncio.gather(*self._sends.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop the sends in progress: a request in the air keeps its claim, and its lapse
        hands the batch over again."""
        for task in self._sends.values():
            task.cancel()
        await self.drain()

    # --- judging --------------------------------------------------------------------------
    async def _judge(self, pending: list[PendingRecord]) -> list[Group]:
        keys = {r.key for r in pending}
        claimants = [
            Claimant(r.key, r.context.signature, r.window_start, r.window_end, pending=True)
            for r in pending
        ]
        live = []
        for claim in self._open:
            if claim.key in keys:
                continue
            if claim.lease_end <= self._now:  # a window as its hand-over will record it
                end = claim.lease_end + self._deadline
                claimants.append(Claimant(claim.key, claim.signature, claim.claimed_at, end, False))
            else:
                live.append(LiveClaim(claim.signature, claim.claimed_at))
        shapes = {(c.signature.text_digest, c.signature.recipients_count) for c in claimants}
        candidates = [e for e in self._seen if (e.digest, e.recipients_count) in shapes]
        owned = await self._ledger.attributed({e.id for e in candidates})
        unique = {e.id: e for e in candidates if e.id not in owned}  # a page seen twice
        return judge(
            claimants,
            list(unique.values()),
            live,
            now=self._now,
            skew=self._skew,
            settle=self._settle,
        )

    async def _commit(self, group: Group, records: dict[str, PendingRecord]) -> None:
        decisions = [
            self._decision(records[key], judgement) for key, judgement in group.judgements.items()
        ]
        if not await self._ledger.decide(decisions, [e.id for e in group.entries]):
            log.info("reconcile_group_changed", batches=len(decisions))  # judged next round
            return
        for decision in decisions:
            record = records[decision.key]
            judgement = group.judgements[decision.key]
            self._metrics.reconcile_verdicts.labels(
                decision.verdict.value, record.context.delivery
            ).inc()
            log.info(
                "batch_reconciled",
                batch_key=decision.key,
                verdict=decision.verdict.value,
                then="send" if decision.final is None else str(decision.final),
                pushr_message_id=judgement.message_id,
                candidates=len(judgement.candidates),
                detail=judgement.detail,
            )

    def _decision(self, record: PendingRecord, judgement: Judgement) -> Decision:
        context, verdict = record.context, judgement.verdict
        expired = context.expires_at is not None and context.expires_at <= self._clock.now()

        def final(state: BatchState, outcome: ResultOutcome, detail: str, **kw: Any) -> Decision:
            result = self._settler.result(context, record.key, outcome, verdict, detail=detail,
                                          **kw)  # fmt: skip
            return Decision(record.key, record.generation, verdict, state, result)

        if verdict is Verdict.SENT:
            return final(
                BatchState.SENT,
                "sent",
                f"reconciled: {judgement.detail}",
                message_id=judgement.message_id,
                status=judgement.status,
                cost=judgement.cost,
            )
        at_most_once = context.delivery == "at_most_once"
        if verdict is Verdict.AMBIGUOUS and (at_most_once or expired):
            return final(BatchState.UNKNOWN, "unknown", f"still ambiguous: {judgement.detail}")
        if expired:
            detail = "reconciled: not sent, and expires_at passed before it could be sent"
            return final(BatchState.REJECTED, "failed", detail)
        return Decision(record.key, record.generation, verdict, None, None)

    # --- making verdicts known ------------------------------------------------------------
    async def _publish(self, record: PendingRecord) -> None:
        if await self._settler.publish(record.key, record.context):
            await self._ledger.finish(record.key, record.generation)

    def _start_send(self, record: PendingRecord) -> None:
        running = self._sends.get(record.key)
        if running is not None and not running.done():
            return
        assert record.verdict is not None
        self._sends[record.key] = asyncio.create_task(self._send(record, record.verdict))

    async def _send(self, record: PendingRecord, verdict: Verdict) -> None:
        try:
            async with self._slots:
                await self._settler.send(record.key, record.context, verdict)
            await self._publish(record)  # if not yet (a batch of its event in flight): later
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next round tries again (the ledger keeps it once)
            log.warning("reconcile_send_failed", batch_key=record.key, error=type(exc).__name__)
        finally:
            self._sends.pop(record.key, None)

    def _gauges(self, unresolved: list[PendingRecord], waiting: dict[str, int]) -> None:
        """The backlog: every record not finished yet (waiting, or its story unpublished)."""
        m = self._metrics
        m.reconcile_pending.set(len(unresolved))
        oldest = min((r.registered_at for r in unresolved), default=None)
        m.reconcile_oldest_pending.set(0 if oldest is None else max(0.0, self._now - oldest))
        for reason in m.RECONCILE_WAIT_REASONS:
            m.reconcile_waiting.labels(reason).set(waiting.get(reason, 0))

    async def _prune(self) -> None:
        starts = [r.window_start for r in self._records] + [c.claimed_at for c in self._open]
        oldest = min(starts, default=self._now)
        await self._ledger.prune_attributed(oldest - 2 * self._skew - PRUNE_MARGIN_SECONDS)

    def idle(self) -> None:
        """Not the lease holder: report no backlog of its own (the holder reports it)."""
        self._gauges([], {})
