"""Redis over TLS with an ACL user, on a real `redis-server`: the URL forms, credentials that
win over the URL's, client certificates, and every misconfiguration as one clear reason with
no secret in it (the ledger contract itself runs over TLS + ACL in tests/contract)."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.devkit.certs import Authority
from service.ledger import BatchState, ClaimStatus, LedgerError, RedisLedger
from service.ledger.factory import redis_client
from service.ledger.redis_health import describe
from service.settings import Settings
from tests.fixtures.redis_nodes import RELAY_USER
from tests.fixtures.redis_secure import TlsRedis
from tests.integration.relay_harness import (
    eventually,
    make_topics,
    phone_numbers,
    produce,
    relay_process,
    relay_values,
    sms_event,
)

pytestmark = pytest.mark.redis

LONG = 30.0
WRONG = "wrong-password-0123"


class Recorder:
    """An `OutageWatch` that keeps what the ledger reported."""

    def __init__(self) -> None:
        self.failures: list[BaseException] = []
        self.answers = 0

    def failed(self, exc: BaseException) -> None:
        self.failures.append(exc)

    def answered(self) -> None:
        self.answers += 1

    def reasons(self) -> set[str]:
        return {describe(exc) for exc in self.failures}


@pytest.fixture
async def open_ledger_on(redis_key_prefix: str) -> AsyncIterator[Any]:
    opened: list[RedisLedger] = []

    def make(
        values: dict[str, Any], *, prefix: str = redis_key_prefix
    ) -> tuple[RedisLedger, Recorder]:
        recorder = Recorder()
        client = redis_client(Settings(**values), client_name="pushr-relay-test")
        ledger = RedisLedger(client, prefix=prefix, ttl_seconds=3600, outage=recorder)
        opened.append(ledger)
        return ledger, recorder

    yield make
    for ledger in opened:
        await ledger.close()


async def assert_refused(ledger: RedisLedger, recorder: Recorder, *secrets: str) -> str:
    """The ledger refuses every call with a LedgerError, reports one reason, leaks nothing."""
    reasons = await refusals(ledger, recorder, *secrets)
    assert len(reasons) == 1, reasons
    return reasons.pop()


async def refusals(ledger: RedisLedger, recorder: Recorder, *secrets: str) -> set[str]:
    with pytest.raises(LedgerError) as caught:
        await ledger.claim("k", "a", LONG)
    assert await ledger.ping() is False
    assert recorder.answers == 0
    assert len(recorder.failures) == 2
    for secret in secrets:
        assert secret not in str(caught.value)
        assert all(secret not in reason for reason in recorder.reasons())
    return recorder.reasons()


async def test_tls_and_acl_user_from_settings(redis_tls: TlsRedis, open_ledger_on) -> None:
    ledger, recorder = open_ledger_on(redis_tls.settings())
    assert (await ledger.claim("k", "a", LONG)).status is ClaimStatus.CLAIMED
    assert await ledger.complete("k", "a", BatchState.SENT, {"outcome": "sent"})
    assert await ledger.ping()
    assert recorder.failures == []
    with redis_tls.admin() as admin:
        clients = admin.client_list()
    assert {"pushr-relay-test"} <= {c["name"] for c in clients if c["user"] == RELAY_USER}


async def test_the_url_forms_keep_working(redis_tls: TlsRedis, open_ledger_on) -> None:
    port, password = redis_tls.node.port, redis_tls.credentials.relay
    in_url = f"rediss://{RELAY_USER}:{password}@127.0.0.1:{port}/0"
    ledger, _ = open_ledger_on({"redis_url": in_url, "redis_ca_file": redis_tls.files.ca})
    assert (await ledger.claim("k", "a", LONG)).status is ClaimStatus.CLAIMED
    # the settings' password wins over a stale one in the URL
    stale = f"rediss://{RELAY_USER}:{WRONG}@127.0.0.1:{port}/0"
    ledger, _ = open_ledger_on(redis_tls.settings(redis_url=stale, redis_username=None))
    assert (await ledger.claim("k", "a", LONG)).status is ClaimStatus.CLAIMED


async def test_wrong_acl_password_is_one_clear_reason(redis_tls: TlsRedis, open_ledger_on) -> None:
    ledger, recorder = open_ledger_on(redis_tls.settings(redis_password=WRONG))
    reason = await assert_refused(ledger, recorder, WRONG, redis_tls.credentials.relay)
    assert reason.startswith("authentication failed: wrong user or password")


async def test_no_credentials_where_redis_wants_them(redis_tls: TlsRedis, open_ledger_on) -> None:
    ledger, recorder = open_ledger_on(redis_tls.settings(redis_username=None, redis_password=None))
    reason = await assert_refused(ledger, recorder)
    assert reason.startswith("Redis asks for a user and password")


async def test_an_untrusted_ca_is_one_clear_reason(
    redis_tls: TlsRedis, open_ledger_on, tmp_path: Path
) -> None:
    stranger = Authority("some other CA").write_ca(tmp_path / "other-ca.crt")
    ledger, recorder = open_ledger_on(redis_tls.settings(redis_ca_file=stranger))
    reason = await assert_refused(ledger, recorder, redis_tls.credentials.relay)
    assert reason.startswith("TLS: the server's certificate is not trusted (")
    assert "PUSHR_RELAY_REDIS_CA_FILE" in reason


async def test_the_server_name_is_checked(
    redis_executable: str, open_ledger_on, tmp_path: Path
) -> None:
    # A certificate the trusted CA signed, but for another host: not good enough.
    elsewhere = TlsRedis(tmp_path, redis_executable, hosts=("redis.internal.example",))
    elsewhere.node.start()
    try:
        ledger, recorder = open_ledger_on(elsewhere.settings())
        reason = await assert_refused(ledger, recorder)
        assert "not valid for '127.0.0.1'" in reason
    finally:
        elsewhere.node.stop()


async def test_a_plain_url_on_the_tls_port(redis_tls: TlsRedis, open_ledger_on) -> None:
    plain = redis_tls.url.replace("rediss://", "redis://")
    ledger, recorder = open_ledger_on(redis_tls.settings(redis_url=plain, redis_ca_file=None))
    reason = await assert_refused(ledger, recorder, redis_tls.credentials.relay)
    assert "a redis:// URL on a TLS port" in reason


async def test_client_certificate_when_the_server_requires_one(
    redis_executable: str, open_ledger_on, tmp_path: Path
) -> None:
    strict = TlsRedis(tmp_path, redis_executable, auth_clients="yes")
    strict.node.start()
    try:
        files = strict.files
        ledger, _ = open_ledger_on(
            strict.settings(redis_cert_file=files.cert, redis_key_file=files.key)
        )
        assert (await ledger.claim("k", "a", LONG)).status is ClaimStatus.CLAIMED
        ledger, recorder = open_ledger_on(strict.settings())
        reasons = await refusals(ledger, recorder, strict.credentials.relay)
        # TLS 1.3 tells of the missing certificate after the handshake, by an alert or by a
        # reset, whichever the client reads first: the reason names the setting either way
        for reason in reasons:
            assert "requires a client certificate (PUSHR_RELAY_REDIS_CERT_FILE)" in reason
    finally:
        strict.node.stop()


async def test_the_acl_user_is_held_to_its_keys(redis_tls: TlsRedis, open_ledger_on) -> None:
    ledger, recorder = open_ledger_on(redis_tls.settings(), prefix="someone-else:")
    reason = await assert_refused(ledger, recorder, redis_tls.credentials.relay)
    assert reason.startswith("the ACL user may not run a command or touch a key")


@pytest.mark.integration
async def test_relay_with_a_wrong_password_is_not_ready_and_says_why_once(
    kafka_bootstrap, topic_factory, sandbox, redis_tls: TlsRedis, redis_key_prefix, tmp_path
) -> None:
    topics = await make_topics(topic_factory)
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        ledger_backend="redis",
        ledger_key_prefix=f"{redis_key_prefix}ledger:",
        **redis_tls.settings(redis_password=WRONG),
    )
    events = [sms_event(phone_numbers(2)) for _ in range(3)]
    async with relay_process(values, tmp_path / "relay.log") as relay:
        await relay.wait_logged("relay_started", within=60)
        (started,) = [line for line in relay.log_lines() if line.get("event") == "relay_started"]
        await produce(kafka_bootstrap, topics.inbound, events)
        ready_url = f"http://127.0.0.1:{started['metrics_port']}/readyz"

        def readiness() -> dict[str, Any]:
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as answer:
                    body: dict[str, Any] = orjson.loads(answer.read())
            except urllib.error.HTTPError as refused:
                body = orjson.loads(refused.read())
            return body

        await eventually(lambda: readiness().get("group_joined") is True, within=60)
        for _ in range(3):  # probes, and batches retrying, add no line
            checks = readiness()
            assert checks["ready"] is False
            assert checks["ledger"] is False
        await eventually(lambda: relay.logged("ledger_unavailable"), within=30)

    lines = relay.log_lines()
    outages = [line for line in lines if line.get("event") == "redis_unavailable"]
    assert len(outages) == 1, outages
    assert outages[0]["component"] == "ledger"
    assert outages[0]["reason"].startswith("authentication failed: wrong user or password")
    assert sandbox.traffic.accepted_sends == 0  # nothing is sent without the ledger
    text = (tmp_path / "relay.log").read_text()
    assert "Traceback" not in text
    assert WRONG not in text
    assert redis_tls.credentials.relay not in text
