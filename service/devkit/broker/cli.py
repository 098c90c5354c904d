"""`pushr-relay kafka start|stop|status`: a detached local broker for development.

`start` prints `KAFKA_BOOTSTRAP_SERVERS=...` on stdout (and nothing else there), so
`export $(pushr-relay kafka start)` works; progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from service.devkit.broker.jars import KafkaSetupError, kafka_version, repo_root
from service.devkit.broker.local_broker import LocalKafka
from service.devkit.broker.processes import JavaProcess, java_pids_under, pid_alive, terminate

STATE_FILE = "state.json"
EXIT_STOPPED = 3


def cli_main(argv: list[str]) -> int:
    """`pushr-relay kafka start|stop|status [--nodes 1|3] [--dir DIR]`."""
    args = _parser().parse_args(argv)
    try:
        directory = (args.dir or repo_root() / ".local" / "kafka" / "run").expanduser().resolve()
    except KafkaSetupError as exc:
        print(f"pushr-relay kafka: {exc}", file=sys.stderr)
        return 1
    action: str = args.action
    if action == "start":
        return _start(directory, args.nodes, args.heap, args.timeout)
    if action == "status":
        return _status(directory)
    return _stop(directory, args.timeout)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir", type=Path, default=None, help="broker folder (default <repo>/.local/kafka/run)"
    )
    common.add_argument("--nodes", type=int, choices=(1, 3), default=1, help="cluster size")
    parser = argparse.ArgumentParser(
        prog="pushr-relay kafka", description="A local Apache Kafka (KRaft) broker, no Docker."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", parents=[common], help="start a detached broker")
    start.add_argument("--heap", default="512m", help="JVM heap per node (default 512m)")
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to become ready")
    sub.add_parser("status", parents=[common], help="running (exit 0) or stopped (exit 3)")
    stop = sub.add_parser("stop", parents=[common], help="stop the broker (data is kept)")
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    return parser


def _start(directory: Path, nodes: int, heap: str, timeout: float) -> int:
    state = _read_state(directory)
    if _live_pids(directory, state):
        bootstrap = state.get("bootstrap")
        if not bootstrap:
            print(f"Kafka runs from {directory} without {STATE_FILE}; stop it", file=sys.stderr)
            return 1
        running = state.get("nodes")
        note = "" if running == nodes else "; stop it first to change --nodes"
        print(f"already running from {directory} ({running} node(s){note})", file=sys.stderr)
        print(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
        return 0
    kafka = LocalKafka(nodes, workdir=directory, heap=heap, detached=True, start_timeout=timeout)
    began = time.monotonic()
    print(f"starting Kafka {kafka_version()} ({nodes} node(s)) in {directory}", file=sys.stderr)
    try:
        kafka.start()
    except KafkaSetupError as exc:
        print(f"pushr-relay kafka: {exc}", file=sys.stderr)
        return 1
    record = {
        "bootstrap": kafka.bootstrap_servers,
        "nodes": nodes,
        "pids": {str(n): pid for n, pid in kafka.pids.items()},
        "ports": {str(n): kafka.broker_port(n) for n in kafka.node_ids},
        "kafka_version": kafka_version(),
        "cluster_id": kafka.cluster_id,
    }
    (directory / STATE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    logs = directory / "node-*" / "logs" / "server.log"
    print(f"ready in {time.monotonic() - began:.1f}s; logs: {logs}", file=sys.stderr)
    print(f"KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}")
    return 0


def _status(directory: Path) -> int:
    state = _read_state(directory)
    pids = _live_pids(directory, state)
    if not pids:
        print(f"stopped ({directory})")
        return EXIT_STOPPED
    nodes = state.get("nodes", "?")
    version = state.get("kafka_version", "?")
    print(f"running: {len(pids)}/{nodes} node(s), Kafka {version}, pids {pids} ({directory})")
    if state.get("bootstrap"):
        print(f"KAFKA_BOOTSTRAP_SERVERS={state['bootstrap']}")
    return 0


def _stop(directory: Path, grace: float) -> int:
    pids = _live_pids(directory, _read_state(directory))
    if pids:
        terminate([JavaProcess(pid) for pid in pids], grace)
    left = _live_pids(directory, {})
    if not left:
        (directory / STATE_FILE).unlink(missing_ok=True)
    if left:
        print(f"still running: pids {left}", file=sys.stderr)
        return 1
    print("stopped" if pids else "not running")
    return 0


def _read_state(directory: Path) -> dict[str, Any]:
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _live_pids(directory: Path, state: dict[str, Any]) -> list[int]:
    """JVMs started from `directory`: the command lines in /proc are the ground truth (they
    also catch a node whose pid never reached the state file); without /proc, the state."""
    if Path("/proc/self").exists():
        return sorted(java_pids_under(directory))
    pids = state.get("pids", {})
    return sorted(int(p) for p in pids.values() if pid_alive(int(p)))
