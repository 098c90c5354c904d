"""A real Apache Kafka cluster (KRaft, loopback only) run from Maven Central jars, no Docker.

    with LocalKafka(nodes=1) as kafka:
        use(kafka.bootstrap_servers)          # "127.0.0.1:P"

    with LocalKafka(security="sasl_ssl") as kafka:  # or "mtls"
        AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **kafka.client_options())

`pushr-relay kafka start|stop|status` runs the same cluster detached
(see `service.devkit.broker.cli`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from service.devkit.broker.config import (
    HOST,
    LOG4J2_PROPERTIES,
    NodePorts,
    plan_cluster,
    port_answers,
    write_node_config,
)
from service.devkit.broker.jars import KafkaSetupError, ensure_jars, find_java, kafka_version
from service.devkit.broker.processes import (
    JavaProcess,
    failure_report,
    java_command,
    node_commands,
    run_sync,
    run_tools,
    spawn,
    terminate,
)
from service.devkit.broker.secured import BrokerSecurity, SecurityMaterial, prepare_material
from service.devkit.certs import Authority
from service.kafka.admin import wait_for_cluster

__all__ = ["KafkaSetupError", "LocalKafka"]


class LocalKafka:
    """`nodes` combined broker+controller JVMs; node ids are 1..nodes.

    Attached (the default) JVMs die with this Python process (death signal, atexit, `stop`).
    `detached=True` is for the CLI: the JVMs survive it and nothing stops them here.
    Without `workdir` a temporary folder is used and removed by `stop`; a given `workdir` is
    kept, and a later start there reuses its data when the node count matches.
    `properties` override server.properties entries (e.g. `broker.session.timeout.ms`, whose
    9 s default is how long a killed node stays leader of its partitions).
    `security` secures the client listener (`service.devkit.broker.secured`), with
    certificates `authority` signs when given (tests issue more client certificates from it).
    Call `start` from a long-lived thread (normally the main one): the kernel's death signal
    follows the thread that forked the JVM.
    """

    def __init__(
        self,
        nodes: int = 1,
        workdir: Path | None = None,
        heap: str = "512m",
        *,
        libs_dir: Path | None = None,
        detached: bool = False,
        start_timeout: float = 90.0,
        jvm_options: Sequence[str] = (),
        properties: Mapping[str, object] | None = None,
        security: BrokerSecurity = "plain",
        authority: Authority | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("nodes must be at least 1")
        self.nodes = nodes
        self.heap = heap
        self.start_timeout = start_timeout
        self._requested_workdir, self._libs_dir, self._detached = workdir, libs_dir, detached
        self._jvm_options = tuple(jvm_options)
        self._properties = dict(properties or {})
        self.security: BrokerSecurity = security
        self._authority = authority
        # CA, certificates and SCRAM passwords of the client listener, made by `start`
        self.material = SecurityMaterial()
        self._workdir: Path | None = None
        self._owns_workdir = False
        self._cluster_id = ""
        self._ports: list[NodePorts] = []
        self._commands: dict[int, list[str]] = {}
        self._procs: dict[int, JavaProcess] = {}
        self._at_exit = False

    # --- what callers read ----------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        if not self._ports:
            raise RuntimeError("LocalKafka is not started")
        return ",".join(f"{HOST}:{p.broker}" for p in self._ports)

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, self.nodes + 1))

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("LocalKafka is not started")
        return self._workdir

    @property
    def cluster_id(self) -> str:
        return self._cluster_id

    @property
    def pids(self) -> dict[int, int]:
        """Node id -> pid of the nodes running now."""
        return {n: p.pid for n, p in self._procs.items() if p.alive()}

    def client_env(self) -> dict[str, str]:
        """The variables that configure `pushr-relay run` and `produce` for this cluster."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, **self.material.client_env()}

    def client_options(self) -> dict[str, Any]:
        """aiokafka keyword arguments (besides the address) for a client of this cluster."""
        return self.material.client_options

    def broker_port(self, node_id: int) -> int:
        return self._ports[self._index(node_id)].broker

    def log_path(self, node_id: int) -> Path:
        return self._node_dir(node_id) / "logs" / "server.log"

    def is_node_running(self, node_id: int) -> bool:
        proc = self._procs.get(node_id)
        return proc is not None and proc.alive()

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> Self:
        if self._procs:
            raise RuntimeError("LocalKafka is already started")
        libs = ensure_jars(self._libs_dir)
        java = find_java()
        try:
            return self._start(java, libs)
        except KafkaSetupError as exc:
            # a port can be taken between choosing it and the JVM binding it; choose again
            if "Address already in use" not in str(exc):
                raise
        return self._start(java, libs)

    def _start(self, java: str, libs: Path) -> Self:
        self._prepare_workdir()
        try:
            self._write_config(java, libs)
            if not self._detached:
                atexit.register(self.stop)
                self._at_exit = True
            for node_id in self.node_ids:
                self._spawn(node_id)
            self._wait_ready(self.node_ids, self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM every node, SIGKILL what is left after `grace` s, drop a temporary workdir.

        By default a kept workdir gets 20 s for a clean shutdown; a temporary one 3 s, since
        its data is deleted anyway and the last nodes of a cluster stopped together wait ~5 s
        for the controller quorum that has just gone.
        """
        if self._at_exit:
            atexit.unregister(self.stop)
            self._at_exit = False
        if grace is None:
            grace = 3.0 if self._owns_workdir else 20.0
        terminate(self._procs.values(), grace)
        self._procs.clear()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._owns_workdir = False

    def stop_node(self, node_id: int, *, kill: bool = False, grace: float = 20.0) -> None:
        """Stop one node and keep its log dir so `start_node` rejoins it.

        `kill` sends SIGKILL at once (a crash); otherwise the node shuts down in a controlled
        way and its partitions' leadership moves first.
        """
        proc = self._procs.get(self._checked(node_id))
        if proc is not None:
            terminate([proc], grace, hard=kill)

    def start_node(self, node_id: int, timeout: float | None = None) -> None:
        """Restart a stopped node with its former ports and data; wait until it is registered."""
        if self.is_node_running(self._checked(node_id)):
            raise RuntimeError(f"Kafka node {node_id} is already running")
        self._spawn(node_id)
        self._wait_ready([node_id], self.start_timeout if timeout is None else timeout)

    def __enter__(self) -> Self:
        return self if self._procs else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._workdir or self._requested_workdir or "(temporary)"
        boot = self.bootstrap_servers if self._ports else "not started"
        return f"LocalKafka(nodes={self.nodes}, {boot}, workdir={where})"

    # --- internals ------------------------------------------------------------------------
    def _checked(self, node_id: int) -> int:
        self._index(node_id)
        return node_id

    def _index(self, node_id: int) -> int:
        if not 1 <= node_id <= self.nodes:
            raise ValueError(f"node ids are 1..{self.nodes}, not {node_id}")
        return node_id - 1

    def _node_dir(self, node_id: int) -> Path:
        return self.workdir / f"node-{node_id}"

    def _prepare_workdir(self) -> None:
        if self._requested_workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="pushr-kafka-")).resolve()
            self._owns_workdir = True
        else:
            self._workdir = self._requested_workdir.expanduser().resolve()
            self._workdir.mkdir(parents=True, exist_ok=True)
        self._cluster_id, self._ports = plan_cluster(
            self._workdir, self.nodes, kafka_version(), self.security
        )
        self.material = prepare_material(self.security, self._workdir, self._authority)

    def _write_config(self, java: str, libs: Path) -> None:
        log4j = self.workdir / "log4j2.properties"
        log4j.write_text(LOG4J2_PROPERTIES)
        formats: dict[int, list[str]] = {}
        overrides = self.material.broker_properties() | self._properties
        for node_id in self.node_ids:
            node_dir = self._node_dir(node_id)
            write_node_config(node_dir, node_id, self._ports, overrides, self.material.listener)
            self._commands[node_id], formats[node_id] = node_commands(
                java_command=partial(java_command, java, libs, log4j=log4j),
                node_dir=node_dir,
                heap=self.heap,
                jvm_options=self._jvm_options,
                format_arguments=["-t", self._cluster_id, *self.material.format_arguments()],
            )
        run_tools("formatting the log dir", formats)

    def _spawn(self, node_id: int) -> None:
        log = self._node_dir(node_id) / "logs" / "jvm.out"
        self._procs[node_id] = spawn(self._commands[node_id], log, attached=not self._detached)

    def _wait_ready(self, node_ids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for node_id in node_ids:
            while not port_answers(self.broker_port(node_id)):
                self._raise_if_dead(node_id)
                if time.monotonic() > deadline:
                    raise KafkaSetupError(self._failure(node_id, f"no answer in {timeout:.0f}s"))
                time.sleep(0.1)
        try:
            run_sync(
                wait_for_cluster(
                    self.bootstrap_servers,
                    max(1.0, deadline - time.monotonic()),
                    # nodes stopped on purpose (stop_node) are not waited for
                    min_brokers=len(self.pids),
                    require_nodes=node_ids,
                    **self.client_options(),
                )
            )
        except TimeoutError as exc:
            raise KafkaSetupError(self._failure(node_ids[0], str(exc))) from exc

    def _raise_if_dead(self, node_id: int) -> None:
        proc = self._procs[node_id]
        if not proc.alive():
            status = proc.popen.returncode if proc.popen is not None else "?"
            raise KafkaSetupError(self._failure(node_id, f"JVM exited ({status}) while starting"))

    def _failure(self, node_id: int, what: str) -> str:
        return failure_report(self._node_dir(node_id) / "logs", f"Kafka node {node_id}: {what}")
