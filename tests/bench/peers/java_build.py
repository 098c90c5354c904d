"""The Parallel Consumer peer, built once: Maven copies the POM's runtime closure from Maven
Central into a libs folder, javac compiles the one source file against it.

A hash of the POM and the source stored beside the build tells later runs it is current, so
Maven and javac run again only when either changes. The build goes to a staging folder that is
renamed into place, under a file lock, so concurrent runs never see half a build.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from service.devkit.broker.jars import find_java

HERE = Path(__file__).resolve().parent / "parallel_consumer"
POM = HERE / "pom.xml"
SOURCE = HERE / "ParallelConsumerPeer.java"
MAIN_CLASS = "ParallelConsumerPeer"
_HASH_FILE = ".build.sha256"
_TIMEOUT_S = 900.0


class PeerBuildError(RuntimeError):
    """Maven or javac is missing or failed."""


def build_dir(root: Path) -> Path:
    return root / ".local" / "bench" / "parallel-consumer"


def _digest() -> str:
    return hashlib.sha256(POM.read_bytes() + b"\0" + SOURCE.read_bytes()).hexdigest()


def _is_current(target: Path, digest: str) -> bool:
    try:
        return (target / _HASH_FILE).read_text(encoding="ascii").strip() == digest
    except OSError:
        return False


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise PeerBuildError(f"{what} did not finish within {_TIMEOUT_S:.0f}s") from exc
    if done.returncode != 0:
        raise PeerBuildError(
            f"{what} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
        )


def ensure_built(root: Path) -> list[str]:
    """The `java` command line (without program arguments) that runs the peer."""
    target = build_dir(root)
    digest = _digest()
    if not _is_current(target, digest):
        target.parent.mkdir(parents=True, exist_ok=True)
        with (target.parent / ".parallel-consumer.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _is_current(target, digest):
                _build(target, digest)
    java = find_java()
    classpath = f"{target / 'classes'}:{target / 'libs'}/*"
    # a heap bound like a container's, and the simple logger at warn level
    return [java, "-Xmx512m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", classpath, MAIN_CLASS]  # fmt: skip


def _build(target: Path, digest: str) -> None:
    mvn, javac = shutil.which("mvn"), shutil.which("javac")
    if mvn is None or javac is None:
        raise PeerBuildError("the Parallel Consumer peer needs Maven (`mvn`) and a JDK (`javac`)")
    staging = Path(tempfile.mkdtemp(prefix=".parallel-consumer-", dir=target.parent))
    try:
        libs, classes = staging / "libs", staging / "classes"
        _run([mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
              "-DincludeScope=runtime", f"-DoutputDirectory={libs}"], "Maven")  # fmt: skip
        _run([javac, "-d", str(classes), "-cp", f"{libs}/*", str(SOURCE)], "javac")
        (staging / _HASH_FILE).write_text(digest + "\n", encoding="ascii")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
