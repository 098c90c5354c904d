"""The leak check of `test_logs_leak`, over secured Kafka: a full run at DEBUG leaks no SASL
password, no key material, no Push.R secret and no full phone number.

`python -m service run` runs as a subprocess configured only by `PUSHR_RELAY_*` variables
(the broker's `client_env()`, what `pushr-relay kafka start --security ...` prints).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson
import pytest

from service.devkit.sandbox import RunningSandbox
from tests.fixtures.secured_kafka import SecuredKafka
from tests.integration.relay_harness import (
    TopicReader,
    final_status,
    make_topics,
    relay_env,
    relay_process,
    relay_values,
    sms_event,
)
from tests.integration.secured_harness import produce_cli
from tests.integration.test_logs_leak import RAW_FORMS, joined_leaks, leaks
from tests.integration.test_secured_kafka_refusals import assert_no_material

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("broker", ["sasl_ssl_kafka", "mtls_kafka"])
async def test_a_full_secured_run_logs_no_password_key_or_number(
    broker: str, request: pytest.FixtureRequest, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    secured: SecuredKafka = request.getfixturevalue(broker)
    topics = await make_topics(secured.topic)
    security = secured.relay_values()
    bootstrap = security.pop("kafka_bootstrap_servers")
    # one 503 first: the batch's retry is logged with the event's context
    sandbox.set_faults({"sequence": ["503"], "endpoints": ["send-sms"]})
    values = relay_values(bootstrap, sandbox, topics, log_level="DEBUG", **security)
    event = sms_event(RAW_FORMS[:3], event_id="cust-0558544343-secured")
    log_path = tmp_path / "relay.log"
    async with (
        TopicReader(bootstrap, topics.outbound, **secured.kafka.client_options()) as out,
        relay_process(values, log_path) as relay,
    ):
        await relay.wait_logged("relay_started", within=60)
        env = relay_env({}) | secured.kafka.client_env()
        done = await asyncio.to_thread(produce_cli, env, topics.inbound, [orjson.dumps(event)])
        assert done.returncode == 0, done.stderr
        await out.wait_for(lambda rs: final_status(rs, event["event_id"]) is not None)
        relay.signal(signal.SIGTERM)
        assert await relay.wait(within=60) == 0
        lines = relay.log_lines()

    text = log_path.read_text()
    assert [line for line in lines if "raw" in line] == []  # every line is JSON
    events = {line.get("event") for line in lines}
    assert {"relay_started", "batch_deferred", "batch_outcome"} <= events
    assert leaks(text) == []
    assert joined_leaks(lines) == []
    material = secured.kafka.material
    keys = [material.client_key] if material.client_key else []
    assert_no_material(text.splitlines(), *material.secrets(), *keys)
