"""The partition of a keyed outbound record, decided once per key.

Kafka's default partitioner (Java's, and aiokafka's `DefaultPartitioner`) puts a keyed
record on `toPositive(murmur2(key)) % partitions`. aiokafka hashes every record's key in
pure Python; the records of one event share its key, so the publisher asks here and passes
`partition=`, keeping every record where the default partitioner would have put it (the
unit tests compare both on many keys). Records without a key, or for a topic whose
metadata the producer has not fetched yet, are left to aiokafka.
"""

from __future__ import annotations

import struct
from typing import Any

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
# Event ids repeat only within an event's life; a bound keeps the memory flat.
_CACHED_KEYS = 4096


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`) as an unsigned
    32-bit value, word by word from one `struct` unpack."""
    length = len(data)
    h = _SEED ^ length
    for word in struct.unpack_from(f"<{length >> 2}I", data):
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = length & 3
    if tail:
        base = length & ~3
        if tail >= 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h = ((h ^ data[base]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class KeyPartitions:
    """Partitions for keys, from the producer's cluster metadata (`producer.client.cluster`)."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self._hashes: dict[bytes, int] = {}

    @classmethod
    def of(cls, producer: Any) -> KeyPartitions | None:
        """For an aiokafka producer (or a wrapper exposing its `client`); None otherwise."""
        cluster = getattr(getattr(producer, "client", None), "cluster", None)
        return cls(cluster) if cluster is not None else None

    def partition(self, topic: str, key: bytes | None) -> int | None:
        if key is None:
            return None
        partitions = self._cluster.partitions_for_topic(topic)
        if not partitions:
            return None
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= _CACHED_KEYS:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        chosen = hashed % len(partitions)
        # Kafka numbers a topic's partitions 0..n-1; anything else goes to aiokafka.
        return chosen if chosen in partitions else None
