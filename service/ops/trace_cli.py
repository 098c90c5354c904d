"""`pushr-relay trace EVENT_ID [--since 24h] [--json]`: the whole story of one event.

Reads the one partition of the outbound topic the event's key hashes to (the producer's
partitioner), from `--since` to the end as it is now, and the event's dead letter, if any,
on the DLQ topic; then each batch's state in the ledger (Redis only: a memory ledger lives
inside the relay). Nothing is joined or committed. Exit status: 0 when the event was found,
1 when nothing is known of it since then, 2 a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import orjson
from aiokafka.errors import KafkaError

from service.clock import SystemClock
from service.configuration import ConfigurationError
from service.contract.model import format_epoch
from service.ledger.factory import open_ledger
from service.ops.scan import ScanError, parse_time, partition_for, partitions_of, reader
from service.ops.scan import records as scan_records
from service.ops.scan import spans as scan_spans
from service.ops.story import Story, add, read_ledger
from service.settings import Settings

DEFAULT_SINCE = "24h"
_STAND_IN = "unknown:"  # the id of a payload too broken to carry one (contract.events)


async def _read_topic(settings: Settings, story: Story, topic: str, since: float) -> None:
    """Add every record about the event on `topic` to the story."""
    consumer = reader(settings)
    await consumer.start()
    try:
        partitions = await partitions_of(settings, topic)
        key = story.event_id.encode("utf-8")
        stand_in = story.event_id.startswith(_STAND_IN) and topic == settings.dlq_topic
        # a stand-in's dead letter has no key: any partition may hold it
        wanted = partitions if stand_in else [partition_for(key, partitions)]
        if topic == story.topic:
            story.partition = wanted[0]
        found = await scan_spans(consumer, topic, wanted, since=since)
        async for message in scan_records(consumer, topic, found):
            if stand_in:
                record = orjson.loads(message.value or b"{}")
                source = record.get("source") or {}
                where = f"{_STAND_IN}{source.get('topic')}:{source.get('partition')}:"
                if f"{where}{source.get('offset')}" != story.event_id:
                    continue
            elif message.key != key:
                continue
            add(story, topic, message.partition, message.offset, message.value)
    finally:
        await consumer.stop()


async def trace(settings: Settings, event_id: str, since: float) -> Story:
    story = Story(event_id, settings.out_topic, -1, format_epoch(since))
    await _read_topic(settings, story, settings.out_topic, since)
    await _read_topic(settings, story, settings.dlq_topic, since)
    story.steps.sort(key=lambda step: step.at or "")
    ledger = None
    if settings.ledger_backend == "redis":
        ledger = await open_ledger(settings, SystemClock())
    try:
        await read_ledger(story, ledger, settings.ledger_backend)
    finally:
        if ledger is not None:
            await ledger.close()
    return story


def render(story: Story) -> str:
    head = f"event {story.event_id}: {story.topic} partition {story.partition}"
    lines = [f"{head}, since {story.since}"]
    if not story.found:
        lines.append("  nothing published about it since then (and no dead letter on the DLQ)")
        return "\n".join(lines)
    width = max(len(step.kind) for step in story.steps)
    for step in story.steps:
        lines.append(
            f"  {step.at or '?':<24}  {step.kind:<{width}}  {step.summary}  [{step.where}]"
        )
        if step.kind == "dead_letter":
            place = step.where.split()[-1]
            lines.append(f"  {'':<24}  {'':<{width}}  see: pushr-relay dlq show {place}")
    if story.ledger or story.ledger_note:
        lines.append(f"ledger ({story.ledger_backend}):")
    for batch in story.ledger:
        extra = ", ".join(
            f"{name} {batch[name]}"
            for name in ("outcome", "pushr_message_id", "produced_at")
            if batch.get(name) is not None
        )
        lines.append(
            f"  {batch['batch_key']}  {batch['state']}" + (f"  ({extra})" if extra else "")
        )
    if story.ledger_note:
        lines.append(f"  {story.ledger_note}")
    return "\n".join(lines)


def cli_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="pushr-relay trace", description=__doc__.split("\n")[0])
    parser.add_argument("event_id", metavar="EVENT_ID")
    parser.add_argument(
        "--since", default=DEFAULT_SINCE, help="how far back: 30m, 24h, 7d or RFC 3339"
    )
    parser.add_argument("--json", action="store_true", help="the story as one JSON object")
    args = parser.parse_args(list(argv))
    settings = Settings()
    since = parse_time(args.since, now=SystemClock().now())
    try:
        story = asyncio.run(trace(settings, args.event_id, since))
    except ScanError as exc:
        raise ConfigurationError(str(exc)) from exc
    except KafkaError as exc:
        raise ConfigurationError(
            f"Kafka at {settings.kafka_bootstrap_servers} cannot be read: {type(exc).__name__}"
        ) from exc
    if args.json:
        sys.stdout.write(orjson.dumps(story.to_json()).decode() + "\n")
    else:
        sys.stdout.write(render(story) + "\n")
    return 0 if story.found else 1
