"""Child processes of the benchmark: spawned pinned (when taskset exists), killed with us.

Every child gets `PR_SET_PDEATHSIG` (SIGKILL when the benchmark dies, even by SIGKILL) and
its own session (a terminal Ctrl-C reaches only the benchmark, which then stops them in
order). `Children.stop_all` is idempotent and runs from `finally` and `atexit`.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def taskset_available() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(cmd: Sequence[str], cpu: int | None) -> list[str]:
    if cpu is None or not taskset_available():
        return list(cmd)
    return ["taskset", "-c", str(cpu), *cmd]


class Children:
    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []
        atexit.register(self.stop_all)

    def spawn(
        self,
        cmd: Sequence[str],
        *,
        cpu: int | None = None,
        env: Mapping[str, str] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        text: bool = True,
    ) -> subprocess.Popen[Any]:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(
            pinned(cmd, cpu),
            cwd=ROOT,
            env=full_env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=text,
            start_new_session=True,
            # only a prctl via ctypes between fork and exec: no locks taken
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 15.0) -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if proc in self._procs:
            self._procs.remove(proc)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in reversed(list(self._procs)):
            try:
                self.stop(proc, timeout=5.0)
            except Exception as exc:  # best effort on the way out
                print(f"bench: could not stop pid {proc.pid}: {exc}", file=sys.stderr)


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (own threads, not children), from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # after "pid (comm) ": state is fields[0]; utime is stat field 14 -> index 11 here
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status, e.g. VmHWM (peak RSS) or VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_affinity(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return "?"
