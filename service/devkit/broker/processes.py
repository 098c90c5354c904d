"""Start and stop broker JVMs so that none outlives its owner unless asked to.

Attached JVMs (tests, demo) die with the Python process even on `kill -9`: the kernel sends
them SIGKILL when their parent goes (PR_SET_PDEATHSIG). Detached JVMs (`pushr-relay kafka
start`) get their own session and no death signal, and are found again through their pids
and command lines.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from service.devkit.broker.jars import KafkaSetupError

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.1
_TOOL_TIMEOUT_S = 120.0
_T = TypeVar("_T")


@dataclass
class JavaProcess:
    pid: int
    # set for attached children, so that Popen reaps them and knows their exit status
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)


def java_command(
    java: str,
    libs: Path,
    *,
    heap: str,
    logs: Path,
    log4j: Path,
    options: Sequence[str] = (),
) -> list[str]:
    """`java ... -cp <libs>/*`, to be followed by a main class and its arguments."""
    return [
        java,
        f"-Xmx{heap}",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:-UsePerfData",  # no hsperfdata files left in /tmp
        f"-XX:ErrorFile={logs}/hs_err_pid%p.log",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={logs}",
        *options,
        "-cp",
        f"{libs}/*",
    ]


def node_commands(
    *,
    java_command: Callable[..., list[str]],
    node_dir: Path,
    heap: str,
    jvm_options: Sequence[str],
    format_arguments: Sequence[str],
) -> tuple[list[str], list[str]]:
    """The command lines that run the node of `node_dir` and format its log dir;
    `java_command(heap=, logs=, options=)` makes their JVM part."""
    logs, props = node_dir / "logs", str(node_dir / "server.properties")
    run = [*java_command(heap=heap, logs=logs, options=jvm_options), "kafka.Kafka", props]
    # --ignore-formatted: data kept from a former run of the workdir stays as it is
    storage = ["kafka.tools.StorageTool", "format", "--ignore-formatted", "-c", props]
    return run, [*java_command(heap="256m", logs=logs), *storage, *format_arguments]


def run_tools(what: str, commands: Mapping[int, Sequence[str]]) -> None:
    """Run short-lived JVM tools (one per node) side by side; raise if any fails."""
    with ExitStack() as stack:
        procs = {
            node: stack.enter_context(
                subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    list(cmd),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
            for node, cmd in commands.items()
        }
        # runs before the Popens' own exits, whose wait() would block on a hung tool
        stack.callback(_kill_running, list(procs.values()))
        for node, proc in procs.items():
            out, _ = proc.communicate(timeout=_TOOL_TIMEOUT_S)
            if proc.returncode != 0:
                raise KafkaSetupError(f"{what} failed on node {node}:\n{out[-3000:]}")


def _kill_running(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()


def spawn(cmd: Sequence[str], log_path: Path, *, attached: bool) -> JavaProcess:
    """Start `cmd` in a new session with stdin empty and stdout+stderr appended to `log_path`."""
    if attached:
        with log_path.open("ab") as log:
            popen = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent_hook(),  # noqa: PLW1509 - only prctl and getppid
            )
        return JavaProcess(popen.pid, popen)
    # posix_spawn leaves no Popen behind, which would warn about a still-running child when
    # the short-lived CLI process exits
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(cmd[0], list(cmd), dict(os.environ), file_actions=actions, setsid=True)
    return JavaProcess(pid)


def die_with_parent_hook() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None  # no PDEATHSIG elsewhere; the atexit stop still applies
    # resolved before the fork: the child should only make two system calls
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def hook() -> None:
        # The signal follows the *thread* that forked: start brokers from a long-lived thread.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def pid_alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False  # our child, which has just exited and is now reaped
    except ChildProcessError:
        pass  # not our child: /proc knows
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # the state letter follows the parenthesised command name; zombies are as good as gone
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def java_pids_under(directory: Path) -> list[int]:
    """Pids of live JVMs whose command line names a file under `directory`."""
    prefix = str(directory.resolve()) + os.sep
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        args = command_line(int(entry.name))
        is_ours = (
            bool(args) and Path(args[0]).name == "java" and any(a.startswith(prefix) for a in args)
        )
        if is_ours and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def terminate(processes: Iterable[JavaProcess], grace: float, *, hard: bool = False) -> None:
    """SIGTERM to each process group, up to `grace` seconds to exit, then SIGKILL.

    `hard` skips straight to SIGKILL: a crash, with no controlled shutdown.
    """
    pending = [p for p in processes if p.alive()]
    if not hard:
        for proc in pending:
            _signal_group(proc.pid, signal.SIGTERM)
        pending = _wait_gone(pending, grace)
    for proc in pending:
        _signal_group(proc.pid, signal.SIGKILL)
    _wait_gone(pending, 10.0)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        # each JVM leads its own session; the group also holds anything it forked
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(processes: list[JavaProcess], timeout: float) -> list[JavaProcess]:
    deadline = time.monotonic() + timeout
    pending = [p for p in processes if p.alive()]
    while pending and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        pending = [p for p in pending if p.alive()]
    return pending


def failure_report(logs: Path, what: str) -> str:
    """`what`, with a node's first errors (the cause; later lines are mostly the shutdown
    that follows) and its last log lines."""
    parts = [what]
    for name in ("jvm.out", "server.log"):
        try:
            lines = (logs / name).read_text(errors="replace").splitlines()
        except OSError:
            continue
        errors = [
            f"{line}\n{lines[i + 1] if i + 1 < len(lines) else ''}"
            for i, line in enumerate(lines)
            if " ERROR " in line or " FATAL " in line
        ][:5]
        if errors:
            parts.append(f"--- {logs / name} (first errors)\n" + "\n".join(errors))
        parts.append(f"--- {logs / name} (last lines)\n" + "\n".join(lines[-15:]))
    return "\n".join(parts)


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-kafka") as pool:
        return pool.submit(asyncio.run, coro).result()
