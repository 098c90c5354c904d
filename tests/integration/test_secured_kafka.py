"""The whole relay over secured Kafka: SASL_SSL (SCRAM-SHA-512, and OAUTHBEARER from an OIDC
token endpoint) and mTLS, on real brokers started by the tests; `pushr-relay produce` too.

Every client of the test (topic admin, reader, producer) connects with the relay's own
security code (`LocalKafka.client_options()`), and the relay is configured only by the
settings the broker prints for people (`client_env()`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from service.devkit.produce import produce
from service.devkit.sandbox import RunningSandbox
from tests.fixtures.secured_kafka import SecuredKafka
from tests.integration.relay_harness import (
    TopicReader,
    final_state,
    final_status,
    make_topics,
    of_type,
    relay_env,
    relay_settings,
    running_relay,
    sms_event,
)
from tests.integration.secured_harness import oauth_settings, produce_cli, token_endpoint

pytestmark = pytest.mark.integration


async def _one_event_through_the_relay(
    secured: SecuredKafka, sandbox: RunningSandbox, **security: Any
) -> None:
    topics = await make_topics(secured.topic)
    values = {**secured.relay_values(), **security}
    settings = relay_settings(values.pop("kafka_bootstrap_servers"), sandbox, topics, **values)
    event = sms_event(["0558544343"])
    async with (
        TopicReader(secured.bootstrap, topics.outbound, **secured.kafka.client_options()) as out,
        running_relay(settings) as relay,
    ):
        # the product's own producer path, on the same settings
        await produce(settings, topics.inbound, [orjson.dumps(event)])
        records = await out.wait_for(lambda rs: final_status(rs, event["event_id"]) is not None)
        assert await relay.stop() == 0

    (result,) = of_type(records, "result", event["event_id"])
    assert result["outcome"] == "sent"
    assert final_state(records, event["event_id"]) == "sent"
    assert sandbox.traffic.sends_for("233558544343") == 1
    assert relay.metric("pushr_relay_offset_commits_total") >= 1


async def test_the_relay_runs_end_to_end_over_sasl_ssl_with_scram(
    sasl_ssl_kafka: SecuredKafka, sandbox: RunningSandbox
) -> None:
    assert secured_protocol(sasl_ssl_kafka) == ("SASL_SSL", "SCRAM-SHA-512")
    await _one_event_through_the_relay(sasl_ssl_kafka, sandbox)


async def test_the_relay_runs_end_to_end_over_mtls(
    mtls_kafka: SecuredKafka, sandbox: RunningSandbox
) -> None:
    assert secured_protocol(mtls_kafka) == ("SSL", None)
    await _one_event_through_the_relay(mtls_kafka, sandbox)


def secured_protocol(secured: SecuredKafka) -> tuple[str, str | None]:
    values = secured.relay_values()
    return values["kafka_security_protocol"], values.get("kafka_sasl_mechanism")


async def test_the_relay_logs_in_with_oauthbearer_tokens_from_the_token_endpoint(
    sasl_ssl_kafka: SecuredKafka, sandbox: RunningSandbox
) -> None:
    async with token_endpoint(lifetime_s=600) as endpoint:
        await _one_event_through_the_relay(sasl_ssl_kafka, sandbox, **oauth_settings(endpoint.url))
    # one token served every connection of every client: it is valid for ten minutes
    assert endpoint.answered == [{"grant_type": "client_credentials", "scope": "kafka"}]


@pytest.mark.parametrize("broker", ["sasl_ssl_kafka", "mtls_kafka"])
async def test_pushr_relay_produce_writes_to_a_secured_broker(
    broker: str, request: pytest.FixtureRequest
) -> None:
    secured: SecuredKafka = request.getfixturevalue(broker)
    topic = await secured.topic("produced")
    events = [sms_event(["0241234567"]) for _ in range(3)]
    # configured only by what `pushr-relay kafka start --security ...` prints
    env = relay_env({}) | secured.kafka.client_env()

    done = await asyncio.to_thread(produce_cli, env, topic, [orjson.dumps(e) for e in events])

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"produced 3 records to {topic}"
    async with TopicReader(secured.bootstrap, topic, **secured.kafka.client_options()) as reader:
        records = await reader.wait_for(lambda rs: len(rs) >= 3, within=30)
    assert [r["event_id"] for r in records] == [e["event_id"] for e in events]
