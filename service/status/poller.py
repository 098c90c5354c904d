"""The delivery-status poller: one replica reads Push.R's list and reports final statuses.

- **One poller.** Exactly one replica polls at a time: the holder of a lease
  (`service.ledger.lease`). The list is per business, not per partition, so a
  partition-owner scheme would make every replica read the same pages; one leader reads them
  once and matches every tracked message. A leader that dies stops renewing and another
  replica takes over within the lease time, from the shared tracked set. Two leaders for a
  moment (a paused process whose lease lapsed) can only publish the same final status twice:
  status events are at-least-once anyway.
- **A round.** Read the tracked set, drop what outlived `status_track_ttl_seconds`, then page
  from the newest until a page reaches the oldest tracked id (page-number pagination under
  inserts only shifts items to later pages, so none is skipped; one seen twice is harmless).
  A final status is published (keyed by event id), then untracked. Failures back off (the
  shared backoff, never sooner than the poll interval); the next success resets it.
- A scheduled message stays `pending` until its time: one due later than the track TTL stops
  being polled before it is delivered.
- **One reader for reconciliation too.** With a `Reconciler`, the same round's pages serve
  it: paging goes on until both the oldest tracked id and the oldest time the reconciler
  needs are reached (either may need nothing), and the reconciler judges only a round
  that read that far.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Final

from service.backoff import Backoff
from service.clock import Clock
from service.contract.events import build_status_event
from service.ledger.lease import Lease
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.pipeline.publish import Publisher
from service.status.list_reader import ListReadError, MessageListReader
from service.status.reconciler import Reconciler
from service.status.tracked import TrackedMessage, TrackStore

log = get_logger(__name__)

FINAL_STATUSES: Final = frozenset({"delivered", "failed", "partial_failed"})
REASON: Final = "delivery_report"
# A bound on one round's paging, against a `next` chain that never ends.
MAX_PAGES: Final = 1000
# The longest wait after repeated failures, in poll intervals.
MAX_BACKOFF_INTERVALS: Final = 32


def lease_seconds(poll_seconds: float) -> float:
    """Three rounds, so a holder that missed one keeps it; it is renewed before every page,
    so a long round does not outlive it. At least 10 s: a round's first page may be slow."""
    return max(3 * poll_seconds, 10.0)


class StatusPoller:
    def __init__(
        self,
        *,
        reader: MessageListReader,
        publisher: Publisher,
        store: TrackStore,
        lease: Lease,
        metrics: Metrics,
        clock: Clock,
        rng: random.Random,
        poll_seconds: float,
        track_ttl_seconds: float,
        reconciler: Reconciler | None = None,
    ) -> None:
        self._reader = reader
        self._reconciler = reconciler
        self._publisher = publisher
        self._store = store
        self._lease = lease
        self._metrics = metrics
        self._clock = clock
        self._interval = poll_seconds
        self._ttl = track_ttl_seconds
        self._backoff = Backoff(poll_seconds, poll_seconds * MAX_BACKOFF_INTERVALS, rng)
        self._failures = 0
        self._leader = False

    async def run(self) -> None:
        """Poll until cancelled."""
        try:
            while True:
                await self._clock.sleep(await self.round())
        finally:
            if self._reconciler is not None:
                await self._reconciler.close()
            if self._leader:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._lease.release())

    async def round(self) -> float:
        """One round (if this replica is the poller); returns the seconds to the next."""
        try:
            if not await self._hold_lease():
                self._metrics.status_polls.labels("not_leader").inc()
                self._metrics.status_tracked.set(0)
                if self._reconciler is not None:
                    self._reconciler.idle()
                return self._interval
            await self.poll_once()
        except ListReadError as failed:
            return self._failed(failed.kind, failed.detail)
        except Exception as exc:
            # Redis or Kafka trouble, a malformed page: the next round may fare better
            return self._failed("error", type(exc).__name__)
        self._failures = 0
        self._metrics.status_polls.labels("ok").inc()
        self._metrics.status_last_poll.set(self._clock.now())
        return self._interval

    def _failed(self, kind: str, detail: str) -> float:
        self._failures += 1
        self._metrics.status_polls.labels(kind).inc()
        # never sooner than the poll interval: the interval is the provider's polling budget
        delay = self._backoff.delay(self._failures - 1, floor=self._interval)
        log.warning(
            "status_poll_failed",
            kind=kind,
            detail=detail,
            failures=self._failures,
            retry_in=round(delay, 3),
        )
        return delay

    async def _hold_lease(self) -> bool:
        held = await self._lease.acquire()
        if held != self._leader:
            log.info("status_poller_lease", held=held)
        self._leader = held
        self._metrics.status_poller_leader.set(1 if held else 0)
        return held

    async def poll_once(self) -> None:
        tracked = await self._live_tracked()
        self._metrics.status_tracked.set(len(tracked))
        reconciler = self._reconciler
        needed = None if reconciler is None else await reconciler.begin()
        complete = not tracked and needed is None
        try:
            complete = await self._page(tracked, reconciler, needed, complete)
        except Exception:
            if reconciler is not None:  # what needs no list goes on: sends, events, pruning
                await reconciler.finish(complete=False)
            raise
        self._metrics.status_tracked.set(len(tracked))
        if reconciler is not None:
            await reconciler.finish(complete=complete)

    async def _page(
        self,
        tracked: dict[int, TrackedMessage],
        reconciler: Reconciler | None,
        needed: float | None,
        complete: bool,
    ) -> bool:
        """Read pages newest first for both; True when both had all they needed."""
        oldest = min(tracked) if tracked else 0
        url: str | None = None
        for number in range(0 if complete else MAX_PAGES):
            if number and not await self._hold_lease():
                break  # another replica took over mid-round; it reads the rest
            page = await self._reader.page(url)
            self._metrics.status_poll_pages.inc()
            for entry in page.entries:
                seen = tracked.get(entry.id)
                if seen is not None and entry.status != seen.last_status:
                    await self._changed(seen, entry.status)
                    if entry.status in FINAL_STATUSES:
                        tracked.pop(seen.message_id, None)
            if reconciler is not None and needed is not None:
                reconciler.take(page.entries)
            url = page.next_url
            # newest first: a page reaching the oldest tracked id is the last the poller needs
            polled = not tracked or not page.entries or min(e.id for e in page.entries) <= oldest
            reconciled = reconciler is None or reconciler.reached(page.entries)
            if url is None or (polled and reconciled):
                return True
        return complete

    async def _live_tracked(self) -> dict[int, TrackedMessage]:
        """The tracked set without (and untracking) what outlived the track TTL."""
        now = self._clock.now()
        tracked: dict[int, TrackedMessage] = {}
        expired: list[int] = []
        for message in await self._store.all():
            if now - message.tracked_at > self._ttl:
                expired.append(message.message_id)
            else:
                tracked[message.message_id] = message
        if expired:
            await self._store.remove(expired)
            self._metrics.status_untracked.labels("expired").inc(len(expired))
            log.info("status_tracking_expired", messages=len(expired))
        return tracked

    async def _changed(self, message: TrackedMessage, status: str) -> None:
        if status not in FINAL_STATUSES:
            # pending -> sent: nothing new for consumers (the relay said `sent` already)
            await self._store.update(message.with_status(status))
            return
        event = build_status_event(
            event_id=message.event_id,
            idempotency_key=message.idempotency_key,
            status=status,  # type: ignore[arg-type]  # checked against FINAL_STATUSES
            at=self._clock.now(),
            reason=REASON,
            detail=f"Push.R message {message.message_id} "
            f"(batch {message.batch_index + 1} of {message.batch_count}): {status}",
            pushr_message_ids=[message.message_id],
            metadata=message.metadata,
        )
        ack = await self._publisher.event(message.event_id, event)
        await ack
        # untracked only once Kafka has it: a crash in between publishes it again, not never
        await self._store.remove([message.message_id])
        self._metrics.delivery_reports.labels(status).inc()
        self._metrics.status_published.labels(status).inc()
        self._metrics.status_untracked.labels("final").inc()
        log.info(
            "delivery_status",
            event_id=message.event_id,
            pushr_message_id=message.message_id,
            status=status,
        )
