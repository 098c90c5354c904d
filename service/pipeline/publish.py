"""Writes to Kafka and hands back acknowledgement futures.

`send` returns once the record is queued; the returned future resolves when the broker
acknowledged it (acks=all, idempotent producer). The caller awaits every future of a
record before that record's offset may be committed.

Every record carries headers that let a consumer route it without parsing the value:
`content-type`, `pushr-event-type` (the value's `type`: `result`, `status`, `dead_letter`)
and `pushr-schema-id` (the `$id` of the schema it is valid against). With tracing on, the
producer is wrapped (`service.observability.traced`) and `traceparent` is added there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaProducer

from service.contract.schemas import DLQ_RECORD, RESULT, STATUS, load_schema
from service.kafka.partitions import KeyPartitions

Headers = list[tuple[str, bytes]]

CONTENT_TYPE_HEADER: Final = "content-type"
EVENT_TYPE_HEADER: Final = "pushr-event-type"
SCHEMA_ID_HEADER: Final = "pushr-schema-id"
CONTENT_TYPE: Final = b"application/json"
_SCHEMA_BY_TYPE: Final = {"result": RESULT, "status": STATUS, "dead_letter": DLQ_RECORD}


def outbound_headers() -> Mapping[str, Headers]:
    """The headers of each event type, built once (the schemas are read from disk)."""
    return {
        event_type: [
            (CONTENT_TYPE_HEADER, CONTENT_TYPE),
            (EVENT_TYPE_HEADER, event_type.encode("ascii")),
            (SCHEMA_ID_HEADER, str(load_schema(schema)["$id"]).encode("utf-8")),
        ]
        for event_type, schema in _SCHEMA_BY_TYPE.items()
    }


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, out_topic: str, dlq_topic: str) -> None:
        self._producer = producer
        self.out_topic = out_topic
        self.dlq_topic = dlq_topic
        self._headers = outbound_headers()
        self._plain: Headers = [(CONTENT_TYPE_HEADER, CONTENT_TYPE)]
        self._partitions = KeyPartitions.of(producer)

    async def send(self, topic: str, key: str | None, value: dict[str, Any]) -> asyncio.Future[Any]:
        # Shared lists: neither aiokafka nor the tracing wrapper changes the list it is given.
        headers = self._headers.get(str(value.get("type")), self._plain)
        raw_key = key.encode("utf-8") if key is not None else None
        partition = self._partitions.partition(topic, raw_key) if self._partitions else None
        if partition is None:
            future: asyncio.Future[Any] = await self._producer.send(
                topic, value=orjson.dumps(value), key=raw_key, headers=headers
            )
            return future
        placed: asyncio.Future[Any] = await self._producer.send(
            topic, value=orjson.dumps(value), key=raw_key, headers=headers, partition=partition
        )
        return placed

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
