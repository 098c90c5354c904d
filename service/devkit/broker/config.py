"""Configuration files of a loopback KRaft cluster: server.properties per node and log4j2."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import socket
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
CLUSTER_FILE = "cluster.json"

# The default 128 MiB dedupe buffer is allocated at start and would not fit a small heap.
_DEDUPE_BUFFER_BYTES = 8 * 1024 * 1024
# 50 partitions per internal topic (the default) make the first consumer group or transaction
# wait for 50 (or 150 replicas') leader elections; tests gain nothing from them.
_INTERNAL_TOPIC_PARTITIONS = 5


@dataclass(frozen=True)
class NodePorts:
    broker: int
    controller: int


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel considers free on the loopback address right now."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            # all sockets stay open until every port is chosen, so none is handed out twice
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def fresh_ports(nodes: int) -> list[NodePorts]:
    flat = free_ports(2 * nodes)
    return [NodePorts(flat[2 * i], flat[2 * i + 1]) for i in range(nodes)]


def plan_cluster(
    workdir: Path, nodes: int, version: str, security: str = "plain"
) -> tuple[str, list[NodePorts]]:
    """Cluster id and ports for `nodes` nodes in `workdir`, recorded in its cluster.json.

    Data of a former cluster of the same size and security is reused with its id (and its
    ports, while they are free: a developer's KAFKA_BOOTSTRAP_SERVERS stays valid across
    restarts); any other former data is removed (SCRAM users exist only in data formatted
    for them).
    """
    saved = _saved_cluster(workdir, nodes, security)
    if saved is not None:
        cluster_id, ports = saved
        if not all(port_is_free(p.broker) and port_is_free(p.controller) for p in ports):
            ports = fresh_ports(nodes)
    else:
        for old in workdir.glob("node-*"):
            shutil.rmtree(old)
        cluster_id, ports = new_cluster_id(), fresh_ports(nodes)
    record = {
        "cluster_id": cluster_id,
        "nodes": nodes,
        "ports": [[p.broker, p.controller] for p in ports],
        "kafka_version": version,
        "security": security,
    }
    (workdir / CLUSTER_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return cluster_id, ports


def _saved_cluster(workdir: Path, nodes: int, security: str) -> tuple[str, list[NodePorts]] | None:
    try:
        record = json.loads((workdir / CLUSTER_FILE).read_text())
        ports = [NodePorts(int(b), int(c)) for b, c in record["ports"]]
        cluster_id = str(record["cluster_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("nodes") != nodes or len(ports) != nodes:
        return None
    if record.get("security", "plain") != security:
        return None
    return cluster_id, ports


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the JVM binds: connections in TIME_WAIT from a just-stopped broker do not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def port_answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def new_cluster_id() -> str:
    """A random Kafka `Uuid` in its base64url text form, as `StorageTool random-uuid` makes."""
    while True:
        text = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")
        # Kafka rejects nothing here, but a leading dash reads as an option on command lines
        if not text.startswith("-"):
            return text


def replication_for(nodes: int) -> tuple[int, int]:
    """(replication factor, min ISR) for internal topics: one down node stays writable."""
    factor = min(nodes, 3)
    return factor, max(1, factor - 1)


def server_properties(
    node_id: int,
    ports: Sequence[NodePorts],
    data_dir: Path,
    overrides: Mapping[str, object] | None = None,
    *,
    listener: str = "PLAINTEXT",
) -> str:
    """A combined broker+controller node `node_id` (1-based) of the cluster `ports` describes;
    clients and brokers use `listener` (named after its security protocol), the controllers
    PLAINTEXT; `overrides` win over these defaults."""
    me = ports[node_id - 1]
    voters = ",".join(f"{i}@{HOST}:{p.controller}" for i, p in enumerate(ports, start=1))
    factor, min_isr = replication_for(len(ports))
    props: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": voters,
        "listeners": f"{listener}://{HOST}:{me.broker},CONTROLLER://{HOST}:{me.controller}",
        "advertised.listeners": f"{listener}://{HOST}:{me.broker}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": listener,
        "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
        "log.dirs": data_dir,
        "num.partitions": 1,
        "default.replication.factor": factor,
        "min.insync.replicas": min_isr,
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": factor,
        "offsets.topic.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        "transaction.state.log.replication.factor": factor,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        "share.coordinator.state.topic.replication.factor": factor,
        "share.coordinator.state.topic.min.isr": min_isr,
        "share.coordinator.state.topic.num.partitions": _INTERNAL_TOPIC_PARTITIONS,
        "group.initial.rebalance.delay.ms": 0,
        "log.cleaner.dedupe.buffer.size": _DEDUPE_BUFFER_BYTES,
        # two shared cores: the defaults (3 network, 8 io threads) only add contention
        "num.network.threads": 2,
        "num.io.threads": 2,
        "num.recovery.threads.per.data.dir": 1,
    }
    props.update(overrides or {})
    lines = [f"{key}={value}" for key, value in props.items()]
    return (
        "# written by pushr-relay (service/kafka); rewritten at each start\n"
        + "\n".join(lines)
        + "\n"
    )


def write_node_config(
    node_dir: Path,
    node_id: int,
    ports: Sequence[NodePorts],
    overrides: Mapping[str, object],
    listener: str,
) -> Path:
    """`node_dir` with its logs/ and data/ folders and its server.properties (returned)."""
    (node_dir / "logs").mkdir(parents=True, exist_ok=True)
    (node_dir / "data").mkdir(parents=True, exist_ok=True)
    props = node_dir / "server.properties"
    props.touch(mode=0o600)  # an inter-broker SCRAM password may be in it
    text = server_properties(node_id, ports, node_dir / "data", overrides, listener=listener)
    props.write_text(text)
    return props


# INFO goes to a file per node (`-Dkafka.logs.dir`); nothing reaches the console, so neither
# test output nor the CLI's stdout carries broker chatter.
LOG4J2_PROPERTIES = """\
status = warn
name = pushr-relay-local-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""
