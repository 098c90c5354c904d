"""`pushr-relay produce`: JSON lines from a file or stdin onto a topic, keyed by event_id.

For demos, smoke tests and replaying a DLQ after a fix. Lines that are not JSON objects
are sent as they are (the relay dead-letters them), so bad input can be reproduced too.
It connects as the relay does (`Settings.kafka_common()`: address, TLS, SASL), and a broker
refusing those settings ends it with the relay's one-line configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from service.kafka.access import check_kafka_access
from service.settings import Settings


def _key(line: bytes) -> bytes | None:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    event_id = doc.get("event_id") if isinstance(doc, dict) else None
    return event_id.encode() if isinstance(event_id, str) else None


async def produce(settings: Settings, topic: str, lines: list[bytes], bootstrap: str = "") -> int:
    """Send `lines` to `topic` with the settings' Kafka options (`bootstrap` overrides the
    address) and wait for every acknowledgement."""
    options: Mapping[str, Any] = settings.kafka_common()
    if bootstrap:
        options = {**options, "bootstrap_servers": bootstrap}
    await check_kafka_access(options["bootstrap_servers"], settings.kafka_client_security())
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        acks = [await producer.send(topic, value=line, key=_key(line)) for line in lines]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return len(lines)


def cli_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="pushr-relay produce")
    parser.add_argument("file", nargs="?", default="-", help="JSON lines file, or - for stdin")
    parser.add_argument("--topic", help="topic (default: the relay's in-topic setting)")
    parser.add_argument("--bootstrap", help="brokers (default: KAFKA_BOOTSTRAP_SERVERS)")
    args = parser.parse_args(list(argv))
    settings = Settings()
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        print(f"pushr-relay produce: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    lines = [line for line in data.splitlines() if line.strip()]
    count = asyncio.run(produce(settings, args.topic or settings.in_topic, lines, args.bootstrap))
    print(f"produced {count} records to {args.topic or settings.in_topic}")
    return 0
