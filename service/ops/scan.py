"""Bounded reads of a topic for the operator commands: from a time to the end as it was.

A scan snapshots each partition's end offset first and stops there, so it ends however fast
producers write; where it starts is the first offset at or after `since` (the broker's time
index), or the beginning. No consumer group is joined and nothing is committed: an operator
command never moves the relay's offsets.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from service.configuration import ConfigurationError
from service.settings import Settings

# Without a record for this long while a partition is short of its end (transaction markers,
# compacted gaps), its position is checked; a broker that stops answering ends the scan.
POLL_MS: Final = 500
STALLED_POLLS: Final = 60
_DURATION: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScanError(Exception):
    """A topic that cannot be read as asked: one line for the operator."""


def parse_time(text: str, *, now: float) -> float:
    """Epoch seconds from `30m`, `24h`, `7d` (that long before `now`) or an RFC 3339 time."""
    match = _DURATION.match(text.strip())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{text!r} is neither a duration (30m, 24h, 7d) nor an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def partition_for(key: bytes, partitions: Iterable[int]) -> int:
    """The partition a keyed record went to: the producer's own default partitioner
    (murmur2 of the key, as Kafka's Java client), so the two cannot disagree."""
    ordered = sorted(partitions)
    chosen: int = DefaultPartitioner()(key, ordered, ordered)
    return chosen


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets [start, end) of one partition."""

    partition: int
    start: int
    end: int


def reader(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **settings.kafka_common(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=settings.fetch_max_partition_bytes,
    )


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The topic's partitions, from the brokers (a consumer knows none of a topic before it
    is assigned one)."""
    admin = AIOKafkaAdminClient(**settings.kafka_common())
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [
        int(p["partition"])
        for t in described
        if t.get("error_code") == 0
        for p in t.get("partitions") or []
    ]
    if not found:
        raise ScanError(f"topic {topic!r} does not exist (or this user may not describe it)")
    return sorted(found)


async def spans(
    consumer: AIOKafkaConsumer,
    topic: str,
    partitions: Iterable[int],
    *,
    since: float | None,
) -> list[Span]:
    tps = [TopicPartition(topic, p) for p in partitions]
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    if since is not None:
        found = await consumer.offsets_for_times({tp: int(since * 1000) for tp in tps})
        starts = {tp: ends[tp] if found[tp] is None else found[tp].offset for tp in tps}
    return [Span(tp.partition, starts[tp], ends[tp]) for tp in tps if starts[tp] < ends[tp]]


async def records(consumer: AIOKafkaConsumer, topic: str, wanted: list[Span]) -> AsyncIterator[Any]:
    """Every record of `wanted`, partition by partition in offset order, then done."""
    left = {TopicPartition(topic, s.partition): s for s in wanted}
    if not left:
        return
    consumer.assign(list(left))
    for tp, span in left.items():
        consumer.seek(tp, span.start)
    idle = 0
    while left:
        batches = await consumer.getmany(*left, timeout_ms=POLL_MS)
        idle = 0 if batches else idle + 1
        for tp, batch in batches.items():
            end = left[tp].end if tp in left else -1
            for record in batch:
                if record.offset < end:
                    yield record
        for tp in list(left):
            if await consumer.position(tp) >= left[tp].end:
                del left[tp]
        if idle >= STALLED_POLLS:
            raise ScanError(f"topic {topic!r} stopped answering before the end of the scan")
