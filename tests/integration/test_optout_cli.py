"""`pushr-relay optout` as operators run it: a child process configured by PUSHR_RELAY_*
variables, against the session broker; `check` reads the list back from the topic (the
memory backend: there is no shared store to ask)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.kafka.admin import create_topics
from tests.integration.relay_harness import REPO_ROOT, relay_env

pytestmark = pytest.mark.integration


async def optout(values: dict[str, Any], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    def run() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "service", "optout", *args],
            cwd=REPO_ROOT,
            env=relay_env(values),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )

    done = await asyncio.to_thread(run)
    lines = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, lines, done.stderr.decode()


async def test_add_import_check_and_remove_on_the_real_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"optouts-{uuid.uuid4().hex[:10]}"
    await create_topics(kafka_bootstrap, [topic], 1, 1, config={"cleanup.policy": "compact"})
    values = {"kafka_bootstrap_servers": kafka_bootstrap, "optout_topic": topic}

    code, lines, _ = await optout(
        values, "add", "0558544343", "+233 24 876 9324", "0302123456", "--source", "test"
    )
    assert code == 1  # one number refused, the others written
    assert [line.get("opted_out") for line in lines[:2]] == [True, True]
    assert lines[2] == {
        "line": 3,
        "valid": False,
        "recipient": "030****456",
        "reason": "not_mobile",
        "message": "not a mobile number (landline, toll-free or other service)",
    }

    export = tmp_path / "unsubscribed.csv"
    export.write_text("name,Phone\nEsi,0201234567\nYaw,\n", encoding="utf-8")
    code, lines, _ = await optout(values, "import", str(export), "--scope", "bulk")
    assert (code, [line["scope"] for line in lines]) == (0, ["bulk"])

    code, _, _ = await optout(values, "remove", "0558544343")
    assert code == 0
    code, lines, _ = await optout(values, "check", "0558544343", "0248769324", "0201234567")
    assert code == 0
    assert [(line["opted_out"], line["scope"]) for line in lines] == [
        (False, None),
        (True, "all"),
        (True, "bulk"),
    ]
    output = str(lines)
    assert "558544343" not in output
    assert "248769324" not in output

    code, _, error = await optout(values, "import", str(tmp_path / "missing.csv"))
    assert code == 2
    assert "cannot read" in error
    assert error.count("\n") == 1  # one line, no traceback
