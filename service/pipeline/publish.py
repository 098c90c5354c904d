"""Writes to Kafka and hands back acknowledgement futures.

`send` returns once the record is queued; the returned future resolves when the broker
acknowledged it (acks=all, idempotent producer). The caller awaits every future of a
record before that record's offset may be committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, out_topic: str, dlq_topic: str) -> None:
        self._producer = producer
        self.out_topic = out_topic
        self.dlq_topic = dlq_topic

    async def send(self, topic: str, key: str | None, value: dict[str, Any]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await self._producer.send(
            topic,
            value=orjson.dumps(value),
            key=key.encode("utf-8") if key is not None else None,
        )
        return future

    async def event(self, key: str, value: dict[str, Any]) -> asyncio.Future[Any]:
        """A result or status event on the outbound topic, keyed by event id."""
        return await self.send(self.out_topic, key, value)

    async def dead_letter(self, key: str | None, value: dict[str, Any]) -> asyncio.Future[Any]:
        return await self.send(self.dlq_topic, key, value)


# aiokafka keeps one open batch per partition; once it is full, every further send waits
# until the sender takes it, which with idempotence (one request in flight per partition)
# is after the previous batch's acks=all round trip.
# At the default 16 KiB (about 16 outbound records) sends queue behind the broker under load
# and every record pays for a round trip of its own; 512 KiB batches a burst of events into
# one request and stays under the broker's 1 MiB message.max.bytes.
MAX_BATCH_BYTES = 512 * 1024


def producer_options() -> dict[str, Any]:
    """Idempotent, fully acknowledged writes; a short linger batches concurrent events."""
    return {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": MAX_BATCH_BYTES,
    }
