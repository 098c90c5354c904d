"""The real broker the other suites stand on: session broker, CLI, and a three-node cluster."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from service.devkit.broker.local_broker import LocalKafka
from service.kafka.admin import create_topics
from tests.fixtures.kafka import TopicFactory, require_native_broker_tools

pytestmark = pytest.mark.integration


async def _consume(bootstrap: str, topic: str, count: int, group: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(60):
            while len(values) < count:
                batches = await consumer.getmany(timeout_ms=1000)
                values += [m.value for records in batches.values() for m in records]
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, 0))
        assert committed == count
        return values
    finally:
        await consumer.stop()


async def test_session_broker_round_trip(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = await topic_factory("roundtrip")
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=b"k")
    finally:
        await producer.stop()

    values = await _consume(kafka_bootstrap, topic, 3, group=f"g-{topic}")

    assert values == [b"m0", b"m1", b"m2"]


async def test_create_topics_is_idempotent(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("twice", partitions=2)

    await create_topics(kafka_bootstrap, [topic], partitions=2)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 2


def _kafka_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "kafka", *args],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error::ResourceWarning"},
    )


def _java_pids_naming(directory: Path) -> list[int]:
    needle = str(directory.resolve()).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if b"java" in cmdline.split(b"\0")[0] and needle in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def test_cli_start_status_stop(tmp_path: Path) -> None:
    require_native_broker_tools()
    run_dir = tmp_path / "broker"
    try:
        started = _kafka_cli("start", "--dir", str(run_dir), cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        assert "Warning" not in started.stderr
        (line,) = started.stdout.splitlines()
        assert line.startswith("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:")
        bootstrap = line.partition("=")[2]
        assert _java_pids_naming(run_dir), "the broker should outlive the start command"

        status = _kafka_cli("status", "--dir", str(run_dir), cwd=tmp_path)
        assert status.returncode == 0
        assert "running" in status.stdout
        assert f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}" in status.stdout

        again = _kafka_cli("start", "--dir", str(run_dir), cwd=tmp_path)
        assert again.returncode == 0
        assert "already running" in again.stderr
        assert again.stdout.strip() == line

        stopped = _kafka_cli("stop", "--dir", str(run_dir), cwd=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert _java_pids_naming(run_dir) == []

        after = _kafka_cli("status", "--dir", str(run_dir), cwd=tmp_path)
        assert after.returncode == 3
        assert "stopped" in after.stdout
        assert _kafka_cli("stop", "--dir", str(run_dir), cwd=tmp_path).returncode == 0
    finally:
        _kafka_cli("stop", "--dir", str(run_dir), cwd=tmp_path)


@pytest.mark.slow
async def test_three_nodes_keep_accepting_writes_with_one_node_down() -> None:
    require_native_broker_tools()
    with LocalKafka(nodes=3) as kafka:
        bootstrap = kafka.bootstrap_servers
        topic = "replicated"
        await create_topics(bootstrap, [topic], partitions=1, replication=3)
        leader = await _leader(bootstrap, topic)

        kafka.stop_node(leader, kill=True)
        assert not kafka.is_node_running(leader)

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            # two of three replicas satisfy min.insync.replicas=2 once leadership moves
            for i in range(5):
                await producer.send_and_wait(topic, f"m{i}".encode())
            assert await _leader(bootstrap, topic) != leader

            kafka.start_node(leader)
            await _wait_isr(bootstrap, topic, size=3)
            await producer.send_and_wait(topic, b"after-rejoin")
        finally:
            await producer.stop()

        values = await _consume(bootstrap, topic, 6, group="three-nodes")
        assert values == [b"m0", b"m1", b"m2", b"m3", b"m4", b"after-rejoin"]
    assert kafka.pids == {}


async def _partition0(bootstrap: str, topic: str) -> dict[str, object]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    (partition,) = described["partitions"]
    return dict(partition)


async def _leader(bootstrap: str, topic: str) -> int:
    leader = (await _partition0(bootstrap, topic))["leader"]
    assert isinstance(leader, int)
    return leader


async def _wait_isr(bootstrap: str, topic: str, size: int) -> None:
    async with asyncio.timeout(60):
        while True:
            isr = (await _partition0(bootstrap, topic))["isr"]
            assert isinstance(isr, list)
            if len(isr) == size:
                return
            await asyncio.sleep(0.5)
