"""A secured broker that refuses the relay's settings ends start-up cleanly: exit status 2 and
one line naming what to fix, no stack trace, no reconnect storm, no secret in the output.

Exiting (rather than running not-ready) is the documented choice: settings are read once,
so a refused password or certificate can only be fixed by a restart with new settings, and
the platform's restart back-off then bounds the attempts. Each case runs the production entry
point, `python -m service run`, against a real broker; `pushr-relay produce` behaves the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.devkit.broker.config import free_ports
from service.devkit.sandbox import RunningSandbox
from service.kafka.access import KafkaAccessError, check_kafka_access
from service.kafka.security import KafkaClientSecurity, KafkaSecurity
from tests.fixtures.secured_kafka import SecuredKafka
from tests.integration.relay_harness import (
    Topics,
    relay_env,
    relay_process,
    relay_values,
    sms_event,
)
from tests.integration.secured_harness import oauth_settings, produce_cli, token_endpoint

pytestmark = pytest.mark.integration

EXIT_CONFIGURATION = 2
# the one line, plus room for a stray library warning; a reconnect loop writes far more
MAX_OUTPUT_LINES = 3


async def refused_start(
    secured: SecuredKafka, sandbox: RunningSandbox, tmp_path: Path, **security: Any
) -> list[str]:
    """Start the relay with `security` over the broker's own settings; return its output
    lines after checking it exited with status 2 and wrote one configuration error."""
    values = {**secured.relay_values(), **security}
    topics = Topics("refused-in", "refused-out", "refused-dlq")  # never reached
    settings = relay_values(values.pop("kafka_bootstrap_servers"), sandbox, topics, **values)
    async with relay_process(settings, tmp_path / "relay.log") as relay:
        code = await relay.wait(within=60)
        lines = (tmp_path / "relay.log").read_text().splitlines()
    assert code == EXIT_CONFIGURATION, lines
    assert len(lines) <= MAX_OUTPUT_LINES, lines
    errors = [line for line in lines if line.startswith("pushr-relay: configuration error: ")]
    assert len(errors) == 1, lines
    assert not any("Traceback" in line for line in lines), lines
    return lines


def assert_no_material(lines: list[str], *values: str | Path) -> None:
    """Neither a secret nor any line of a PEM key file's body is in `lines`."""
    text = "\n".join(lines)
    for value in values:
        if isinstance(value, Path):
            body = [ln for ln in value.read_text().splitlines() if not ln.startswith("-----")]
            assert body
            assert not any(part in text for part in body), f"key material of {value}"
        else:
            assert value not in text


async def test_a_wrong_sasl_password_ends_start_up_in_one_line(
    sasl_ssl_kafka: SecuredKafka, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    right = sasl_ssl_kafka.relay_values()["kafka_sasl_password"]

    lines = await refused_start(sasl_ssl_kafka, sandbox, tmp_path, kafka_sasl_password=wrong)

    assert "rejected SASL user 'relay' (SCRAM-SHA-512)" in lines[-1]
    assert "PUSHR_RELAY_KAFKA_SASL_PASSWORD" in lines[-1]
    assert_no_material(lines, wrong, right)


async def test_a_broker_certificate_from_an_unknown_ca_ends_start_up_in_one_line(
    sasl_ssl_kafka: SecuredKafka, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    other_ca, _cert, _key = sasl_ssl_kafka.stranger("unknown-ca")
    password = sasl_ssl_kafka.relay_values()["kafka_sasl_password"]

    lines = await refused_start(sasl_ssl_kafka, sandbox, tmp_path, kafka_ssl_cafile=other_ca)

    assert "certificate at 127.0.0.1:" in lines[-1]
    assert "is not trusted" in lines[-1]
    assert "PUSHR_RELAY_KAFKA_SSL_CAFILE" in lines[-1]
    assert_no_material(lines, password)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("expired", "certificate has expired"),
        ("another CA's", "not signed by a CA the broker trusts"),
    ],
)
async def test_a_refused_client_certificate_ends_start_up_in_one_line(
    kind: str, reason: str, mtls_kafka: SecuredKafka, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    if kind == "expired":
        cert, key = mtls_kafka.client_certificate("expired-client", expired=True)
    else:
        _ca, cert, key = mtls_kafka.stranger("untrusted-client")

    lines = await refused_start(
        mtls_kafka, sandbox, tmp_path, kafka_ssl_certfile=cert, kafka_ssl_keyfile=key
    )

    assert f"refused the client certificate PUSHR_RELAY_KAFKA_SSL_CERTFILE={cert}" in lines[-1]
    assert lines[-1].endswith(reason)
    assert_no_material(lines, key)


async def test_a_client_refused_by_the_token_endpoint_ends_start_up_in_one_line(
    sasl_ssl_kafka: SecuredKafka, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    wrong = f"not-the-secret-{secrets.token_hex(8)}"
    async with token_endpoint(lifetime_s=600) as endpoint:
        lines = await refused_start(
            sasl_ssl_kafka, sandbox, tmp_path, **oauth_settings(endpoint.url, secret=wrong)
        )

    assert f"{endpoint.url} refused client 'pushr-relay-test': invalid_client" in lines[-1]
    assert endpoint.answered == []
    assert_no_material(lines, wrong)


async def test_pushr_relay_produce_with_a_wrong_password_exits_in_one_line(
    sasl_ssl_kafka: SecuredKafka,
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    env = relay_env({}) | sasl_ssl_kafka.kafka.client_env()
    env["PUSHR_RELAY_KAFKA_SASL_PASSWORD"] = wrong
    line = orjson.dumps(sms_event(["0241234567"]))

    done = await asyncio.to_thread(produce_cli, env, "never-created", [line])

    assert done.returncode == EXIT_CONFIGURATION
    assert done.stdout == ""
    (error,) = done.stderr.splitlines()
    assert error.startswith("pushr-relay: configuration error: the Kafka broker at 127.0.0.1:")
    assert_no_material([error], wrong)


async def _refusal(bootstrap: str, security: KafkaSecurity) -> str:
    with pytest.raises(KafkaAccessError) as caught:
        await check_kafka_access(bootstrap, KafkaClientSecurity(security))
    return str(caught.value)


async def test_a_listener_spoken_to_in_the_wrong_protocol_is_named(
    kafka_bootstrap: str, sasl_ssl_kafka: SecuredKafka, mtls_kafka: SecuredKafka
) -> None:
    ca = mtls_kafka.kafka.material.ca_file
    scram = sasl_ssl_kafka.kafka.material.client_security()

    plaintext_to_tls = await _refusal(sasl_ssl_kafka.bootstrap, KafkaSecurity())
    tls_to_plaintext = await _refusal(kafka_bootstrap, KafkaSecurity("SSL", ssl_cafile=ca))
    sasl_to_no_sasl = await _refusal(
        kafka_bootstrap, dataclasses.replace(scram, protocol="SASL_PLAINTEXT", ssl_cafile=None)
    )
    other_mechanism = await _refusal(
        sasl_ssl_kafka.bootstrap, dataclasses.replace(scram, sasl_mechanism="SCRAM-SHA-256")
    )
    no_certificate = await _refusal(mtls_kafka.bootstrap, KafkaSecurity("SSL", ssl_cafile=ca))

    assert plaintext_to_tls.endswith(
        "expects TLS, not PUSHR_RELAY_KAFKA_SECURITY_PROTOCOL=PLAINTEXT: use SSL or SASL_SSL"
    )
    assert tls_to_plaintext.endswith(
        "does not speak TLS, so not PUSHR_RELAY_KAFKA_SECURITY_PROTOCOL=SSL: use PLAINTEXT"
    )
    assert sasl_to_no_sasl.endswith(
        "has no SASL on this listener, so not PUSHR_RELAY_KAFKA_SECURITY_PROTOCOL="
        "SASL_PLAINTEXT: use PLAINTEXT"
    )
    assert other_mechanism.endswith("does not offer PUSHR_RELAY_KAFKA_SASL_MECHANISM=SCRAM-SHA-256")
    assert no_certificate.endswith(
        "requires a client certificate: set PUSHR_RELAY_KAFKA_SSL_CERTFILE"
    )


async def test_a_broker_that_does_not_answer_is_left_to_the_clients(
    sasl_ssl_kafka: SecuredKafka,
) -> None:
    client = KafkaClientSecurity(sasl_ssl_kafka.kafka.material.client_security())
    closed_port = free_ports(1)[0]

    # nothing listens there: not a refusal of the settings, so start-up goes on as before
    await check_kafka_access(f"127.0.0.1:{closed_port}", client)
