"""The publisher's partition choice equals Kafka's default partitioner's (aiokafka's own,
which follows Java's) for every key, and leaves keyless records and unknown topics to it."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from service.kafka.partitions import KeyPartitions, murmur2


class Cluster:
    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self._partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)


def keys() -> list[bytes]:
    rng = random.Random(18)
    made = [rng.randbytes(length) for length in range(64) for _ in range(30)]
    made += [str(rng.getrandbits(128)).encode() for _ in range(2000)]
    return [*made, b"", b"\xff" * 7, "gh-ünïcode-🔑".encode()]


def test_murmur2_is_aiokafkas_on_every_length() -> None:
    for key in keys():
        assert murmur2(key) == aiokafka_murmur2(key), key


def test_the_partition_is_the_default_partitioners() -> None:
    default = DefaultPartitioner()
    for count in (1, 3, 6, 12, 50):
        everything = set(range(count))
        chooser = KeyPartitions(Cluster({"out": everything}))
        for key in keys():
            expected = default(key, sorted(everything), list(everything))
            assert chooser.partition("out", key) == expected
            assert chooser.partition("out", key) == expected  # and again, from the cache


def test_keyless_records_and_unknown_topics_are_left_to_aiokafka() -> None:
    chooser = KeyPartitions(Cluster({"out": {0, 1, 2}}))
    assert chooser.partition("out", None) is None
    assert chooser.partition("not-fetched-yet", b"key") is None


def test_only_a_producer_with_cluster_metadata_gets_a_chooser() -> None:
    class Client:
        cluster = Cluster({})

    class Producer:
        client = Client()

    assert KeyPartitions.of(object()) is None
    assert isinstance(KeyPartitions.of(Producer()), KeyPartitions)
