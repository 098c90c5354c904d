"""What `pushr-relay optout` does, apart from its command line: turn numbers into opt-out
records (normalised as events' recipients are), produce them, and read the shared list.

`check` asks the store the relay consults: Redis with `PUSHR_RELAY_LEDGER_BACKEND=redis`;
with the memory backend there is no shared store, so `check` reads the topic from the
beginning itself, as a starting relay does.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.clock import SystemClock
from service.contract.consent import BadNumber, OptOut, Scope, build_optout
from service.contract.phones import normalise_phone
from service.kafka.access import check_kafka_access
from service.kafka.optouts import OptOutReader
from service.ledger.factory import redis_client
from service.ledger.optouts import MemoryOptOutStore, OptOutStore, RedisOptOutStore
from service.observability.metrics import Metrics
from service.pipeline.publish import producer_options
from service.settings import Settings

# Column names an export may give the numbers under; otherwise the first column is used.
NUMBER_COLUMNS = ("number", "phone", "msisdn", "mobile", "contact", "recipient")
CATCH_UP_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Entry:
    line: int  # 1-based line (argument position for numbers given on the command line)
    raw: str


def entries_from_file(text: str) -> list[Entry]:
    """Numbers from a CSV export (a header naming a number column, or the first column)
    or one number a line; blank lines are skipped."""
    rows = list(csv.reader(io.StringIO(text)))
    column = 0
    start = 0
    if rows and rows[0]:
        header = [cell.strip().lower() for cell in rows[0]]
        named = [i for i, name in enumerate(header) if name in NUMBER_COLUMNS]
        if named:
            column, start = named[0], 1
        elif normalise_phone(rows[0][0])[0] is None and any(c.isalpha() for c in rows[0][0]):
            start = 1  # a header of other names: the numbers are in its first column
    found = []
    for index, row in enumerate(rows[start:], start=start + 1):
        if len(row) > column and row[column].strip():
            found.append(Entry(index, row[column]))
    return found


def records(
    entries: Iterable[Entry], *, opted_out: bool, scope: Scope, source: str, now: float
) -> list[tuple[Entry, OptOut | BadNumber]]:
    return [
        (e, build_optout(e.raw, opted_out=opted_out, scope=scope, at=now, source=source))
        for e in entries
    ]


async def produce(settings: Settings, optouts: Sequence[OptOut]) -> None:
    """Every record onto the opt-out topic, each acknowledged by all in-sync replicas."""
    await check_kafka_access(settings.kafka_bootstrap_servers, settings.kafka_client_security())
    producer = AIOKafkaProducer(**settings.kafka_common(), **producer_options())
    await producer.start()
    try:
        acks = []
        for optout in optouts:
            key, value = optout.encode()
            acks.append(await producer.send(settings.optout_topic, value=value, key=key))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def lookup(settings: Settings, numbers: Sequence[str]) -> dict[str, Scope]:
    """The opted-out ones among the normalised `numbers`, as the relay would see them."""
    async with contextlib.AsyncExitStack() as stack:
        store: OptOutStore
        if settings.ledger_backend == "redis":
            client = redis_client(settings, client_name=f"{settings.client_id}-optout-check")
            stack.push_async_callback(client.aclose)
            store = RedisOptOutStore(client, settings.ledger_key_prefix)
        else:
            store = await _replayed(settings, stack)
        return await store.scopes(numbers)


async def _replayed(settings: Settings, stack: contextlib.AsyncExitStack) -> OptOutStore:
    await check_kafka_access(settings.kafka_bootstrap_servers, settings.kafka_client_security())
    consumer = AIOKafkaConsumer(**settings.kafka_common(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    stack.push_async_callback(consumer.stop)
    store = MemoryOptOutStore()
    reader = OptOutReader(
        consumer,
        store,
        settings.optout_topic,
        metrics=Metrics(CollectorRegistry()),
        clock=SystemClock(),
        rng=random.Random(),
    )
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(CATCH_UP_SECONDS):
            await reader.caught_up.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return store
