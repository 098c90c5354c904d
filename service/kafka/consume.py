"""The fetch loop: many records in flight, bounded, committed only when finished.

- Each record becomes a task; the offset tracker knows which are unfinished.
- A partition with too many unfinished records is paused. Fetching goes on (heartbeats,
  rebalances), buffering does not grow.
- Records in progress are bounded per lane (`intake.py`), by count and, since counts do not
  bound memory (a bulk event holds thousands of recipients), by payload bytes: fetched
  records past their lane's budget wait, undecoded, until running ones finish, and the
  partitions they come from pause (a lane topic at once; a shared topic once the records
  waiting from it fill `fetch_ahead_bytes`, so a `critical` record behind a bulk backlog is
  still fetched). `critical` records start first. A record larger than the whole budget
  still runs, alone.
- Commits go out every `commit_interval` from a task beside the fetch loop (never blocking
  it) and hold only contiguous finished offsets; the commit lock orders them with the
  revoke's and the final commit.
- Every wait (retry backoff, commit interval, revoke and stop deadlines) is on the
  injected Clock, so tests step time instead of sleeping.
- On revoke: wait for the partition's work up to a deadline, commit, then let go.
- On stop: stop fetching, drain within the grace period, commit, return.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.backoff import Backoff
from service.clock import Clock, sleep_unless_set, wait_on_clock
from service.kafka.intake import LaneIntake, LaneOf, Waiting
from service.kafka.offsets import OffsetTracker
from service.observability.health import Health
from service.observability.logging import get_logger
from service.observability.metrics import Metrics
from service.priority import DEFAULT_PRIORITY, Priority

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
        commit_interval: float = 0.5,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
        lane_of: LaneOf | None = None,
        lane_topics: dict[str, Priority] | None = None,
        fetch_ahead_bytes: int = 0,
    ) -> None:
        self._consumer = consumer
        self._handle = handle
        self._metrics = metrics
        self._health = health
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
        # Fetched, counted by the tracker (so commits stop before them), not yet started.
        self._intake = LaneIntake(
            max_in_flight=max_in_flight,
            max_bytes=max_in_flight_bytes,
            fetch_ahead_bytes=fetch_ahead_bytes,
            lane_topics=lane_topics or {},
            lane_of=lane_of or (lambda _topic, _value: DEFAULT_PRIORITY),
        )
        self._stopping = False

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
                self._update_pauses()
                records = await self._consumer.getmany(timeout_ms=100, max_records=self._fetch_max)
                self._health.kafka_ok = True
                self._health.progressed()
                for tp, batch in records.items():
                    for record in batch:
                        self.tracker.add(tp, record.offset)
                        self._intake.add(tp, record)
                    self._last_fetched[tp] = batch[-1].offset
                self._start_waiting()
        finally:
            # Waiting records are never started now: they stay uncommitted and are
            # redelivered, and the drain below sees every task that will ever run.
            self._stopping = True
            # Let a commit in the air finish (not cancel it) before the drain and the final
            # commit, which then holds everything that finished.
            fetching_done.set()
            await asyncio.gather(committer, return_exceptions=True)
            await self._drain(set(self._tasks), grace)
            await self.commit()

    async def _commit_periodically(self, done: asyncio.Event) -> None:
        """Commit every `commit_interval` on the loop's clock until `done`.

        A timer, not a commit per finished record: the interval bounds both the commit
        traffic and how much is redelivered after a crash, whatever the record rate. Tests
        step it on a `SteppedClock` (a `ManualClock` would make this loop spin).
        """
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
        """Start waiting records that their lane's budget allows, `critical` first; one
        always may when its lane runs nothing, so an oversized record cannot wait for ever."""
        if not self._stopping:
            for item in self._intake.startable():
                self._start(item)
        self._update_pauses()

    def _start(self, item: Waiting) -> None:
        self._metrics.events_in_flight.inc()
        task = asyncio.create_task(self._run_one(item.tp, item.record, item.lane, item.size))
        self._tasks[item.tp].add(task)
        task.add_done_callback(self._tasks[item.tp].discard)

    async def _run_one(
        self, tp: TopicPartition, record: Any, lane: Priority = DEFAULT_PRIORITY, size: int = 0
    ) -> None:
        try:
            await self._handle_until_done(tp, record)
        finally:
            self._metrics.events_in_flight.dec()
            self._intake.finished(lane, size)
        self.tracker.done(tp, record.offset)
        self._health.progressed()
        self._start_waiting()

    async def _handle_until_done(self, tp: TopicPartition, record: Any) -> None:
        """Retry a failed record (a publish the broker refused, a bug) with the backoff.

        Skipping it would lose the event; leaving it unfinished would hold the partition's
        commits and an in-flight slot until a restart. Retrying is safe: the ledger turns a
        batch that was already sent into a re-published result, never a second SMS. Only
        a revoke or shutdown (cancellation) ends the retries.
        """
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
    def _update_pauses(self) -> None:
        """Pause every partition that must not fetch (too much of its own work unfinished,
        or its lane's records waiting: `intake.py`); resume the others."""
        for tp in self._consumer.assignment():
            stop = self.tracker.in_flight(tp) >= self._max_partition or self._intake.blocked(
                tp.topic
            )
            if stop and tp not in self._paused:
                self._consumer.pause(tp)
                self._paused.add(tp)
            elif not stop and tp in self._paused:
                self._paused.discard(tp)
                self._consumer.resume(tp)

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
        self._intake.drop(revoked)
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
