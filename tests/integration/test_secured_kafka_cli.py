"""From a clean start, `export $(pushr-relay kafka start --security ...)` is all the Kafka
configuration `pushr-relay run` and `pushr-relay produce` need, end to end with the sandbox."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from service.devkit.sandbox import RunningSandbox
from service.kafka.admin import create_topics
from service.settings import Settings
from tests.fixtures.kafka import require_native_broker_tools
from tests.fixtures.secured_kafka import settings_values
from tests.integration.relay_harness import (
    REPO_ROOT,
    TopicReader,
    Topics,
    final_state,
    final_status,
    relay_env,
    relay_process,
    relay_values,
    sms_event,
)
from tests.integration.secured_harness import produce_cli

pytestmark = pytest.mark.integration

EXPECTED = {
    "sasl_ssl": [
        "KAFKA_BOOTSTRAP_SERVERS",
        "PUSHR_RELAY_KAFKA_SECURITY_PROTOCOL",
        "PUSHR_RELAY_KAFKA_SASL_MECHANISM",
        "PUSHR_RELAY_KAFKA_SASL_USERNAME",
        "PUSHR_RELAY_KAFKA_SASL_PASSWORD",
        "PUSHR_RELAY_KAFKA_SSL_CAFILE",
    ],
    "mtls": [
        "KAFKA_BOOTSTRAP_SERVERS",
        "PUSHR_RELAY_KAFKA_SECURITY_PROTOCOL",
        "PUSHR_RELAY_KAFKA_SSL_CAFILE",
        "PUSHR_RELAY_KAFKA_SSL_CERTFILE",
        "PUSHR_RELAY_KAFKA_SSL_KEYFILE",
    ],
}


def kafka_cli(*args: str) -> subprocess.CompletedProcess[str]:
    require_native_broker_tools()
    return subprocess.run(
        [sys.executable, "-m", "service", "kafka", *args],
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PUSHR_RELAY_KAFKA")},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def exported(stdout: str) -> dict[str, str]:
    """What the shell's `export $(...)` makes of the output: words of NAME=VALUE."""
    pairs = (word.partition("=") for word in stdout.split())
    return {name: value for name, sep, value in pairs if sep}


@pytest.mark.parametrize("security", ["sasl_ssl", "mtls"])
async def test_the_printed_settings_configure_run_and_produce(
    security: str, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run_dir = tmp_path / "broker"
    try:
        started = await asyncio.to_thread(
            kafka_cli, "start", "--dir", str(run_dir), "--security", security, "--heap", "256m"
        )
        assert started.returncode == 0, started.stderr
        env = exported(started.stdout)
        assert list(env) == EXPECTED[security]
        assert len(started.stdout.splitlines()) == len(env)  # one variable a line, nothing else
        assert env["KAFKA_BOOTSTRAP_SERVERS"].startswith("127.0.0.1:")

        # the relay's own settings, read from what was printed, create the topics
        kafka = settings_values(env)
        settings = Settings.model_validate(kafka)
        topics = Topics("sms.requests", "sms.events", "sms.requests.dlq")
        options = settings.kafka_client_security().options()
        bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        await create_topics(bootstrap, [topics.inbound, topics.outbound, topics.dlq], **options)

        values = relay_values(kafka.pop("kafka_bootstrap_servers"), sandbox, topics, **kafka)
        event = sms_event(["0558544343"])
        async with (
            TopicReader(bootstrap, topics.outbound, **options) as out,
            relay_process(values, tmp_path / "relay.log") as relay,
        ):
            await relay.wait_logged("relay_started", within=60)
            line = orjson.dumps(event)
            done = await asyncio.to_thread(produce_cli, relay_env({}) | env, topics.inbound, [line])
            assert done.returncode == 0, done.stderr
            records = await out.wait_for(lambda rs: final_status(rs, event["event_id"]) is not None)
            relay.signal(signal.SIGTERM)
            assert await relay.wait(within=60) == 0
        assert final_state(records, event["event_id"]) == "sent"
        assert sandbox.traffic.sends_for("233558544343") == 1

        status = await asyncio.to_thread(kafka_cli, "status", "--dir", str(run_dir))
        assert status.returncode == 0
        assert exported(status.stdout.partition("\n")[2]) == env
    finally:
        stopped = await asyncio.to_thread(kafka_cli, "stop", "--dir", str(run_dir))
    assert stopped.returncode == 0, stopped.stderr
