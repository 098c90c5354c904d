"""Finding dead letters on the DLQ topic, and telling an operator what each one is.

A dead letter is named by its place on the DLQ topic, `PARTITION:OFFSET`; that is what
`dlq show` takes and what a replayed record's `pushr-replay-of` header points back to
(`<dlq topic>:<partition>:<offset>`). Everything shown here is the record's masked side; the
sealed original is opened only by `dlq show --original` and `dlq replay`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from service.configuration import ConfigurationError
from service.ops.scan import partitions_of, reader, records, spans
from service.settings import Settings


def parse_coordinates(text: str) -> tuple[int, int]:
    """`PARTITION:OFFSET` of a record on the DLQ topic."""
    partition, sep, offset = text.partition(":")
    if not (sep and partition.isdigit() and offset.isdigit()):
        raise ConfigurationError(f"{text!r} is not PARTITION:OFFSET of a DLQ record (e.g. 0:42)")
    return int(partition), int(offset)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: float | None  # the DLQ record's Kafka time, epoch seconds
    record: dict[str, Any]

    @property
    def coordinates(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def replay_of(self) -> str:
        """The value of a replayed record's `pushr-replay-of` header."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def original(self) -> str:
        """`sealed (KEY_ID)`, `too large` or `masked only`: whether a replay can have it."""
        if "original_sealed" not in self.record:
            return "masked only"
        sealed = self.record["original_sealed"]
        return "too large" if sealed is None else f"sealed ({sealed.get('key_id')})"

    def masked_payload(self) -> str:
        raw = base64.b64decode(self.record.get("payload_base64", ""))
        return raw.decode("utf-8", "replace")

    def summary(self) -> dict[str, Any]:
        record = self.record
        return {
            "dlq": {"topic": self.topic, "partition": self.partition, "offset": self.offset},
            "dead_lettered_at": record.get("dead_lettered_at"),
            "reason": record.get("reason"),
            "event_id": record.get("event_id"),
            "source": record.get("source"),
            "errors": record.get("errors", []),
            "original": self.original,
        }

    def shown(self) -> dict[str, Any]:
        """The whole record, masked, with the payload as text instead of base64."""
        record = {k: v for k, v in self.record.items() if k != "payload_base64"}
        record["payload"] = self.masked_payload()
        record["original_sealed"] = self.original
        return {"dlq": self.summary()["dlq"], **record}


@dataclass(frozen=True)
class Selection:
    """Which dead letters: every given filter must hold (none given: all of them)."""

    reasons: frozenset[str] = frozenset()
    since: float | None = None
    until: float | None = None
    event_id: str | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    coordinates: frozenset[tuple[int, int]] = field(default_factory=frozenset)

    def matches(self, letter: DeadLetter) -> bool:
        record, source = letter.record, letter.record.get("source") or {}
        checks = (
            not self.reasons or record.get("reason") in self.reasons,
            self.until is None or (letter.timestamp or 0) <= self.until,
            self.event_id is None or record.get("event_id") == self.event_id,
            self.source_topic is None or source.get("topic") == self.source_topic,
            self.source_partition is None or source.get("partition") == self.source_partition,
            not self.coordinates or (letter.partition, letter.offset) in self.coordinates,
        )
        return all(checks)


async def select(settings: Settings, selection: Selection) -> tuple[list[DeadLetter], int]:
    """The matching dead letters in (partition, offset) order, and how many records of the
    topic were not dead letters (unreadable values are counted, never fatal)."""
    topic = settings.dlq_topic
    consumer = reader(settings)
    await consumer.start()
    found: list[DeadLetter] = []
    unreadable = 0
    try:
        partitions = await partitions_of(settings, topic)
        if selection.coordinates:
            partitions = sorted({p for p, _ in selection.coordinates} & set(partitions))
        wanted = await spans(consumer, topic, partitions, since=selection.since)
        async for message in records(consumer, topic, wanted):
            try:
                value = orjson.loads(message.value or b"")
            except orjson.JSONDecodeError:
                value = None
            if not isinstance(value, dict) or value.get("type") != "dead_letter":
                unreadable += 1
                continue
            stamp = (
                message.timestamp / 1000 if message.timestamp and message.timestamp > 0 else None
            )
            letter = DeadLetter(topic, message.partition, message.offset, stamp, value)
            if selection.matches(letter):
                found.append(letter)
    finally:
        await consumer.stop()
    found.sort(key=lambda letter: (letter.partition, letter.offset))
    return found, unreadable
