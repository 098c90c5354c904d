"""`pushr-relay kafka start|stop|status`: a detached local broker for development.

`start` prints, one per line on stdout and nothing else there, every variable a client
needs: `KAFKA_BOOTSTRAP_SERVERS=...`, and with `--security sasl_ssl|mtls` the
`PUSHR_RELAY_KAFKA_*` security settings too, so `export $(pushr-relay kafka start ...)`
configures `pushr-relay run` and `pushr-relay produce`. Progress and errors go to stderr.
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
from service.devkit.broker.secured import SECURITY_MODES, BrokerSecurity

STATE_FILE = "state.json"
EXIT_STOPPED = 3


def cli_main(argv: list[str]) -> int:
    """`pushr-relay kafka start|stop|status [--nodes 1|3] [--dir DIR] [--security MODE]`."""
    args = _parser().parse_args(argv)
    try:
        directory = (args.dir or repo_root() / ".local" / "kafka" / "run").expanduser().resolve()
    except KafkaSetupError as exc:
        print(f"pushr-relay kafka: {exc}", file=sys.stderr)
        return 1
    action: str = args.action
    if action == "start":
        return _start(directory, args.nodes, args.heap, args.timeout, args.security)
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
    start.add_argument(
        "--security",
        choices=SECURITY_MODES,
        default="plain",
        help="client listener: plain (default), sasl_ssl (SCRAM-SHA-512 over TLS) or mtls "
        "(TLS with client certificates)",
    )
    sub.add_parser("status", parents=[common], help="running (exit 0) or stopped (exit 3)")
    stop = sub.add_parser("stop", parents=[common], help="stop the broker (data is kept)")
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    return parser


def _start(directory: Path, nodes: int, heap: str, timeout: float, security: BrokerSecurity) -> int:
    state = _read_state(directory)
    if _live_pids(directory, state):
        env = _client_env(state)
        if not env:
            print(f"Kafka runs from {directory} without {STATE_FILE}; stop it", file=sys.stderr)
            return 1
        running = (state.get("nodes"), state.get("security", "plain"))
        note = "" if running == (nodes, security) else "; stop it first to change it"
        print(
            f"already running from {directory} ({running[0]} node(s), {running[1]}{note})",
            file=sys.stderr,
        )
        _print_env(env)
        return 0
    kafka = LocalKafka(
        nodes,
        workdir=directory,
        heap=heap,
        detached=True,
        start_timeout=timeout,
        security=security,
    )
    began = time.monotonic()
    print(
        f"starting Kafka {kafka_version()} ({nodes} node(s), {security}) in {directory}",
        file=sys.stderr,
    )
    try:
        kafka.start()
    except KafkaSetupError as exc:
        print(f"pushr-relay kafka: {exc}", file=sys.stderr)
        return 1
    record = {
        "bootstrap": kafka.bootstrap_servers,
        "nodes": nodes,
        "security": security,
        "client_env": kafka.client_env(),
        "pids": {str(n): pid for n, pid in kafka.pids.items()},
        "ports": {str(n): kafka.broker_port(n) for n in kafka.node_ids},
        "kafka_version": kafka_version(),
        "cluster_id": kafka.cluster_id,
    }
    state_file = directory / STATE_FILE
    state_file.touch(mode=0o600)  # it holds the SCRAM password of sasl_ssl
    state_file.chmod(0o600)
    state_file.write_text(json.dumps(record, indent=2) + "\n")
    logs = directory / "node-*" / "logs" / "server.log"
    print(f"ready in {time.monotonic() - began:.1f}s; logs: {logs}", file=sys.stderr)
    _print_env(kafka.client_env())
    return 0


def _client_env(state: dict[str, Any]) -> dict[str, str]:
    # a state file of an older version holds the address alone
    env = state.get("client_env")
    if isinstance(env, dict):
        return {str(k): str(v) for k, v in env.items()}
    return {"KAFKA_BOOTSTRAP_SERVERS": state["bootstrap"]} if state.get("bootstrap") else {}


def _print_env(env: dict[str, str]) -> None:
    for name, value in env.items():
        print(f"{name}={value}")


def _status(directory: Path) -> int:
    state = _read_state(directory)
    pids = _live_pids(directory, state)
    if not pids:
        print(f"stopped ({directory})")
        return EXIT_STOPPED
    nodes = state.get("nodes", "?")
    version = state.get("kafka_version", "?")
    security = state.get("security", "plain")
    print(
        f"running: {len(pids)}/{nodes} node(s), {security}, Kafka {version}, pids {pids} "
        f"({directory})"
    )
    _print_env(_client_env(state))
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
