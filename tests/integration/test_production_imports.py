"""The relay never imports the local kit: a whole composition, in a fresh interpreter,
leaves no `service.devkit` module in `sys.modules`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.integration

# `stop` is set before `run` starts: every part is built and every client started (producer,
# consumer, status poller, health server), then the loop drains at once and everything closes.
SCRIPT = """
import asyncio, sys
from service.app import run
from service.observability.logging import configure_logging
from service.settings import Settings

async def main():
    configure_logging()
    stop = asyncio.Event()
    stop.set()
    return await run(Settings(), stop=stop, install_signals=False)

code = asyncio.run(main())
print(code, sorted(m for m in sys.modules if m.startswith("service.devkit")))
"""


def test_running_the_relay_loads_no_devkit_module(kafka_bootstrap: str) -> None:
    name = f"imports-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHR_RELAY_")}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        PUSHR_RELAY_IN_TOPIC=name,
        PUSHR_RELAY_GROUP_ID=name,
        PUSHR_RELAY_HTTP_HOST="127.0.0.1",
        PUSHR_RELAY_HTTP_PORT="0",
        PUSHR_RELAY_PUSHR_JWT="a-token-for-the-status-poller",
        PUSHR_RELAY_PUSHR_BUSINESS_ID="1",
        PUSHR_RELAY_RATE_LIMIT_RPS="10",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout
    assert "relay_started" in done.stderr  # the composition really ran
