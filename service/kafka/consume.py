"""The fetch loop: many records in flight, bounded, committed only when finished.

- Each record becomes a task; the offset tracker knows which are unfinished. A partition
  with too many is paused, all are at the total bound; fetching goes on (heartbeats).
- Payload bytes of started records are bounded too (a bulk event holds thousands of
  recipients): records past that budget wait, undecoded, with every partition paused.
  A record larger than the whole budget still runs, alone.
- Commits go out every `commit_interval` from a task beside the fetch loop (never blocking
  it) and hold only contiguous finished offsets; the commit lock orders them with the
  revoke's and the final commit.
- Every wait (backoff, commit interval, deadlines) is on the injected Clock: tests step it.
- A record waiting at a held account's gate is parked (`service.pipeline.parking`):
  it stops counting against these bounds and stays uncommitted until it finishes.
- On revoke: wait for the partition's work up to a deadline, commit, then let go.
- On stop: stop fetching, drain within the grace period, commit, return.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.backoff import Backoff
from service.clock import Clock, sleep_unless_set, wait_on_clock
from service.kafka.offsets import OffsetTracker
from service.kafka.parked import Parking, RecordSpot, record_size
from service.observability.health import Health
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.pipeline.parking import current_spot

log = get_logger(__name__)

RecordHandler = Callable[[Any], Awaitable[None]]


class ConsumerLoop:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        handle: RecordHandler,
        *,
        metrics: Metrics,
        health: Health,
        clock: Clock,
        rng: random.Random,
        max_in_flight: int,
        max_in_flight_per_partition: int,
        fetch_max_records: int,
        revoke_deadline: float,
        max_in_flight_bytes: int | None = None,
        max_parked: int = 0,
        commit_interval: float = 0.5,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
    ) -> None:
        self._consumer = consumer
        self._handle = handle
        self._metrics = metrics
        self._health = health
        self._max_total = max_in_flight
        self._max_partition = max_in_flight_per_partition
        self._fetch_max = fetch_max_records
        self._revoke_deadline = revoke_deadline
        self._commit_interval = commit_interval
        self._clock = clock
        self._backoff = Backoff(retry_base, retry_cap, rng)
        self.tracker = OffsetTracker()
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = defaultdict(set)
        self._paused: set[TopicPartition] = set()
        self._last_fetched: dict[TopicPartition, int] = {}
        self._commit_lock = asyncio.Lock()
        self._max_bytes = max_in_flight_bytes
        self._bytes_in_flight = 0
        # Fetched, counted by the tracker (so commits stop before them), not yet started.
        self._waiting: deque[tuple[TopicPartition, Any]] = deque()
        self._stopping = False
        parked = metrics.accounts.events_parked
        self.parking = Parking(self.tracker, max_parked, parked, self._parked_bytes)

    def listener(self) -> ConsumerRebalanceListener:
        return _Rebalance(self)

    # --- main loop -------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, grace: float) -> None:
        # Commits run beside the fetch loop: awaited inside it, each broker round trip
        # would stop fetching, and so new work, for every partition.
        fetching_done = asyncio.Event()
        committer = asyncio.create_task(self._commit_periodically(fetching_done))
        try:
            while not stop.is_set():
                capacity = self._max_total - self.tracker.total_in_flight()
                if capacity <= 0 or self._over_budget():
                    self._pause_all()
                records = await self._consumer.getmany(
                    timeout_ms=100, max_records=max(1, min(self._fetch_max, capacity))
                )
                self._health.kafka_ok = True
                self._health.progressed()
                for tp, batch in records.items():
                    for record in batch:
                        self.tracker.add(tp, record.offset)
                        self._waiting.append((tp, record))
                    self._last_fetched[tp] = batch[-1].offset
                    if self.tracker.in_flight(tp) >= self._max_partition:
                        self._pause(tp)
                self._start_waiting()
        finally:
            # Waiting records are never started now: they stay uncommitted and are
            # redelivered, and the drain below sees every task that will ever run.
            self._stopping = True
            # Let a commit in the air finish (not cancel it); the final one follows the drain.
            fetching_done.set()
            await asyncio.gather(committer, return_exceptions=True)
            await self._drain(set(self._tasks), grace)
            await self.commit()

    async def _commit_periodically(self, done: asyncio.Event) -> None:
        """Commit every `commit_interval` until `done`: a timer, not a commit per record, bounds
        both the commit traffic and what a crash redelivers. Tests step it on a `SteppedClock`
        (a `ManualClock` would make this loop spin)."""
        while True:
            if await sleep_unless_set(self._clock, self._commit_interval, done):
                return  # the final commit follows the drain
            try:
                await self.commit()
                self._report_lag()
            except Exception:
                # Never let the committer die quietly: offsets would stop advancing while
                # the relay looks healthy. The next round tries again.
                log.exception("commit_round_failed")

    def _start_waiting(self) -> None:
        """Start waiting records in fetch order while the byte budget allows; one always
        may when nothing runs, so an oversized record cannot wait for ever."""
        while self._waiting and not self._stopping:
            size = record_size(self._waiting[0][1])
            if (
                self._max_bytes is not None
                and self._bytes_in_flight > 0
                and self._bytes_in_flight + size > self._max_bytes
            ):
                break
            tp, record = self._waiting.popleft()
            self._bytes_in_flight += size
            self._start(tp, record)
        if self._waiting:
            # Fetching on would only pile up more records behind these.
            self._pause_all()

    def _start(self, tp: TopicPartition, record: Any) -> None:
        self._metrics.events_in_flight.inc()
        task = asyncio.create_task(self._run_one(tp, record))
        self._tasks[tp].add(task)
        task.add_done_callback(self._tasks[tp].discard)

    async def _run_one(self, tp: TopicPartition, record: Any) -> None:
        spot = RecordSpot(self.parking, tp, record)
        current_spot.set(spot)
        try:
            await self._handle_until_done(tp, record)
        finally:
            spot.leave()
            self._metrics.events_in_flight.dec()
            self._bytes_in_flight -= record_size(record)
        self.tracker.done(tp, record.offset)
        self._health.progressed()
        self._start_waiting()
        self._maybe_resume()

    async def _handle_until_done(self, tp: TopicPartition, record: Any) -> None:
        """Retry a failed record (a publish the broker refused, a bug) with the backoff.

        Skipping it would lose the event; leaving it unfinished would hold the partition's
        commits until a restart. Retrying is safe: the ledger turns a batch already sent into
        a re-published result, never a second SMS. Only a revoke or shutdown ends it."""
        failures = 0
        while True:
            try:
                await self._handle(record)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                self._metrics.record_retries.inc()
                log.exception(
                    "record_failed",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=record.offset,
                    attempts=failures,
                )
                await self._clock.sleep(self._backoff.delay(failures - 1))
            else:
                return

    # --- backpressure ----------------------------------------------------------------------
    def _parked_bytes(self, delta: int) -> None:
        self._bytes_in_flight += delta  # parking frees a record's bytes, or takes them back
        if delta < 0:
            self._start_waiting()
            self._maybe_resume()

    def _over_budget(self) -> bool:
        return self._max_bytes is not None and self._bytes_in_flight >= self._max_bytes

    def _pause(self, tp: TopicPartition) -> None:
        if tp not in self._paused and tp in self._consumer.assignment():
            self._consumer.pause(tp)
            self._paused.add(tp)

    def _pause_all(self) -> None:
        for tp in self._consumer.assignment():
            self._pause(tp)

    def _maybe_resume(self) -> None:
        if not self._paused or self._waiting or self.tracker.total_in_flight() >= self._max_total:
            return
        if self._over_budget():
            return
        for paused in list(self._paused):
            if self.tracker.in_flight(paused) < self._max_partition:
                self._paused.discard(paused)
                if paused in self._consumer.assignment():
                    self._consumer.resume(paused)

    # --- commits ---------------------------------------------------------------------------
    async def commit(self) -> None:
        async with self._commit_lock:
            offsets = self.tracker.to_commit()
            owned = self._consumer.assignment()
            offsets = {tp: off for tp, off in offsets.items() if tp in owned}
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError, KafkaError) as exc:
                # The group moved on; the new owner resumes from the last good commit.
                log.warning("commit_failed", error=type(exc).__name__)
                return
            self.tracker.mark_committed(offsets)
            self._metrics.commits.inc()

    def _report_lag(self) -> None:
        for tp, last in self._last_fetched.items():
            high = self._consumer.highwater(tp)
            if high is not None:
                self._metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, high - last - 1)
                )

    # --- revoke and shutdown ---------------------------------------------------------------
    async def _drain(self, tps: set[TopicPartition], deadline: float) -> None:
        tasks = {task for tp in tps for task in self._tasks.get(tp, set())}
        pending = await wait_on_clock(self._clock, deadline, tasks)
        if pending:
            for task in pending:
                task.cancel()
            log.warning("drain_deadline_passed", abandoned=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Not started, so nothing to wait for: the new owner gets them from the last commit.
        self._waiting = deque(item for item in self._waiting if item[0] not in revoked)
        await self._drain(revoked, self._revoke_deadline)
        with contextlib.suppress(Exception):
            await self.commit()
        self.tracker.forget(revoked)
        for tp in revoked:
            self._paused.discard(tp)
            self._tasks.pop(tp, None)
            self._last_fetched.pop(tp, None)
        # Tasks cancelled at the deadline never reach their own resume: without this the
        # partitions kept could stay paused behind work that no longer exists.
        self._start_waiting()
        self._maybe_resume()

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._health.assigned = True
        log.info(
            "partitions_assigned", partitions=sorted(f"{t.topic}/{t.partition}" for t in assigned)
        )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._loop.on_assigned(set(assigned))
