"""Apache Kafka's jars from Maven Central, fetched once into a libs folder.

The broker version lives only in `deploy/local/pom.xml`. Maven copies the runtime closure of
that POM into the libs folder; a hash of the POM stored beside the jars tells later runs that
the folder is current, so Maven runs again only when the POM changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_HOME = "PUSHR_RELAY_HOME"
POM_RELATIVE = Path("deploy/local/pom.xml")
_HASH_FILE = ".pom.sha256"
_MAVEN_TIMEOUT_S = 900.0


class KafkaSetupError(RuntimeError):
    """Java, Maven, the POM or the jars are missing, or the broker would not start."""


def repo_root() -> Path:
    """The pushr-relay checkout: `$PUSHR_RELAY_HOME`, else the tree this package sits in."""
    env = os.environ.get(ENV_HOME)
    if env:
        root = Path(env).expanduser().resolve()
        if not (root / POM_RELATIVE).is_file():
            raise KafkaSetupError(f"{ENV_HOME}={env} has no {POM_RELATIVE}")
        return root
    candidate = Path(__file__).resolve().parents[3]
    if (candidate / POM_RELATIVE).is_file():
        return candidate
    # an installed (non-editable) package carries no deploy/ folder
    raise KafkaSetupError(f"cannot find {POM_RELATIVE}; set {ENV_HOME} to the pushr-relay checkout")


def pom_path() -> Path:
    return repo_root() / POM_RELATIVE


def default_libs_dir() -> Path:
    return repo_root() / ".local" / "kafka" / "libs"


def kafka_version(pom: Path | None = None) -> str:
    """The broker version pinned in the POM."""
    text = (pom or pom_path()).read_text(encoding="utf-8")
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", text)
    if match is None:
        raise KafkaSetupError("no <kafka.version> property in the POM")
    return match.group(1)


def find_java() -> str:
    """`$JAVA_HOME/bin/java` when set, else `java` on PATH (Kafka 4 needs Java 17+)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise KafkaSetupError("Java 17+ is needed to run the local Kafka broker (no `java` found)")
    return found


def ensure_jars(libs_dir: Path | None = None, pom: Path | None = None) -> Path:
    """Return a libs folder holding the POM's runtime jars, running Maven only if needed."""
    pom = pom or pom_path()
    libs = (libs_dir or default_libs_dir()).resolve()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _is_current(libs, digest):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    # engineers and test sessions share one checkout: only one of them may run Maven
    with _exclusive(libs.parent / f".{libs.name}.lock"):
        if _is_current(libs, digest):
            return libs
        staging = Path(tempfile.mkdtemp(prefix=f".{libs.name}-", dir=libs.parent))
        try:
            _run_maven(pom, staging)
            (staging / _HASH_FILE).write_text(digest + "\n", encoding="ascii")
            if libs.exists():
                shutil.rmtree(libs)
            # a rename keeps readers from ever seeing a half-filled folder
            staging.rename(libs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return libs


def _is_current(libs: Path, digest: str) -> bool:
    try:
        stored = (libs / _HASH_FILE).read_text(encoding="ascii").strip()
    except OSError:
        return False
    return stored == digest and any(libs.glob("kafka_2.13-*.jar"))


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_maven(pom: Path, output_dir: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaSetupError(
            "Maven (`mvn`) is needed once to fetch Kafka's jars from Maven Central "
            f"(then they are cached in {default_libs_dir()})"
        )
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={output_dir}",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaSetupError(f"Maven did not finish within {_MAVEN_TIMEOUT_S:.0f}s") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise KafkaSetupError(f"Maven failed ({done.returncode}) fetching Kafka's jars:\n{tail}")
