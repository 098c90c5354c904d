"""The native broker's plumbing that needs no Java: properties, cluster plan, jar cache."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.devkit.broker import jars
from service.devkit.broker.config import (
    CLUSTER_FILE,
    NodePorts,
    new_cluster_id,
    plan_cluster,
    server_properties,
)
from service.devkit.broker.processes import pid_alive


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_single_node_keeps_internal_topics_at_one_replica(tmp_path: Path) -> None:
    props = _props(server_properties(1, [NodePorts(9092, 9093)], tmp_path))

    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_three_nodes_replicate_three_ways_and_need_two_in_sync(tmp_path: Path) -> None:
    ports = [NodePorts(1000 + i, 2000 + i) for i in range(3)]

    props = _props(server_properties(2, ports, tmp_path, {"broker.session.timeout.ms": 4000}))

    assert props["node.id"] == "2"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1001"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:2000,2@127.0.0.1:2001,3@127.0.0.1:2002"
    )
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["broker.session.timeout.ms"] == "4000"


def test_cluster_ids_are_kafka_uuids() -> None:
    cluster_id = new_cluster_id()

    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert not cluster_id.startswith("-")


def test_a_workdir_keeps_its_cluster_for_the_same_size_only(tmp_path: Path) -> None:
    first = plan_cluster(tmp_path, 1, "4.1.1")
    (tmp_path / "node-1" / "data").mkdir(parents=True)

    assert plan_cluster(tmp_path, 1, "4.1.1") == first
    assert (tmp_path / "node-1" / "data").is_dir()

    resized = plan_cluster(tmp_path, 3, "4.1.1")
    assert resized[0] != first[0]
    assert len(resized[1]) == 3
    assert not (tmp_path / "node-1").exists()
    assert (tmp_path / CLUSTER_FILE).is_file()


def test_maven_runs_only_when_the_pom_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<kafka.version>9.9.9</kafka.version>")
    runs: list[Path] = []

    def fake_maven(_pom: Path, output_dir: Path) -> None:
        runs.append(output_dir)
        (output_dir / "kafka_2.13-9.9.9.jar").write_bytes(b"")

    monkeypatch.setattr(jars, "_run_maven", fake_maven)
    libs = tmp_path / "libs"

    assert jars.ensure_jars(libs, pom) == libs.resolve()
    assert jars.ensure_jars(libs, pom) == libs.resolve()
    assert len(runs) == 1

    pom.write_text("<kafka.version>9.9.10</kafka.version>")
    jars.ensure_jars(libs, pom)
    assert len(runs) == 2
    assert jars.kafka_version(pom) == "9.9.10"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".libs-")] == []


def test_pid_alive_tells_a_finished_child_from_a_running_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()

    assert pid_alive(os.getpid())
    assert not pid_alive(child.pid)
