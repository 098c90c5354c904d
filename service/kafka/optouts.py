"""Reads the opt-out topic from the beginning into the opt-out store, and keeps reading.

The reader subscribes without a group, so it is assigned every partition and commits
nothing: each replica needs the whole list, and joining the relay's group would take
in-topic partitions from a replica and trigger rebalances. It starts from the beginning on
every start, so a restart keeps the list without any offset of its own, and the store's
compare-and-set makes replaying harmless (`service.ledger.optouts`).

Caught up means every partition's position reached the end offset seen at start-up;
until then `/readyz` fails, so a replica never sends before it knows the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.backoff import Backoff
from service.clock import Clock
from service.contract.consent import OptOut, decode_optout
from service.ledger.base import LedgerError
from service.ledger.optouts import OptOutChange, OptOutStore
from service.observability.logging import get_logger
from service.observability.metrics import Metrics

log = get_logger(__name__)

FETCH_TIMEOUT_MS = 1000
MAX_RECORDS = 1000
ASSIGN_POLL_SECONDS = 0.2
TOPIC_MISSING_SECONDS = 10.0  # no partition yet after this long: say so, once


class OptOutReader:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        store: OptOutStore,
        topic: str,
        *,
        metrics: Metrics,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._consumer = consumer
        self._store = store
        self._topic = topic
        self._metrics = metrics
        self._clock = clock
        self._backoff = Backoff(0.2, 5.0, rng)
        self._partitions: list[TopicPartition] = []
        self._ends: dict[TopicPartition, int] = {}
        self.caught_up = asyncio.Event()

    def ready(self) -> bool:
        return self.caught_up.is_set()

    async def run(self) -> None:
        await self._assign()
        while True:
            batches = await self._consumer.getmany(
                timeout_ms=FETCH_TIMEOUT_MS, max_records=MAX_RECORDS
            )
            for tp, records in batches.items():
                await self._apply(tp, records)
            await self._observe()

    async def _assign(self) -> None:
        # Without a group, a subscription is assigned every partition of the topic (new
        # ones too), with no coordinator and no commits.
        self._consumer.subscribe([self._topic])
        waited = 0.0
        while not self._consumer.assignment():
            if (
                waited >= TOPIC_MISSING_SECONDS
                and waited - ASSIGN_POLL_SECONDS < TOPIC_MISSING_SECONDS
            ):
                log.warning("optout_topic_missing", topic=self._topic)
            await self._clock.sleep(ASSIGN_POLL_SECONDS)
            waited += ASSIGN_POLL_SECONDS
        self._partitions = sorted(self._consumer.assignment(), key=lambda tp: tp.partition)
        await self._consumer.seek_to_beginning(*self._partitions)
        self._ends = dict(await self._consumer.end_offsets(self._partitions))
        log.info("optout_reader_assigned", topic=self._topic, partitions=len(self._partitions))
        await self._observe()

    async def _apply(self, tp: TopicPartition, records: Sequence[Any]) -> None:
        changes = []
        for record in records:
            decoded = decode_optout(record.key, record.value)
            if isinstance(decoded, OptOut):
                scope = decoded.scope if decoded.opted_out else None
                changes.append(OptOutChange(decoded.number, scope, tp.partition, record.offset))
                self._metrics.optout_records.labels("applied").inc()
            else:
                self._metrics.optout_records.labels("invalid").inc()
                log.warning(
                    "optout_record_invalid",
                    partition=tp.partition,
                    offset=record.offset,
                    problem=decoded,
                )
        failures = 0
        while True:
            try:
                await self._store.apply(changes)
            except LedgerError as exc:
                # the position has moved on: these records must land before any others
                if failures == 0:
                    log.warning("optout_store_unavailable", error=str(exc))
                await self._clock.sleep(self._backoff.delay(failures))
                failures += 1
            else:
                return

    async def _observe(self) -> None:
        lag = 0
        behind = False
        for tp in self._partitions:
            position = await self._consumer.position(tp)
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - position)
            if position < self._ends.get(tp, 0):
                behind = True
        self._metrics.optout_lag.set(lag)
        # on an outage the next round tries again; lookups report the outage themselves
        with contextlib.suppress(LedgerError):
            self._metrics.optout_list_size.set(await self._store.size())
        if not behind and not self.caught_up.is_set():
            self.caught_up.set()
            log.info("optout_list_caught_up", topic=self._topic)
