"""Keys and passwords from the accounts file never reach a log line, an outbound event, a
dead letter or the operator command's output. The relay runs as `python -m service run`
(the production entry point, so the file's secrets reach the log scrubber as in a pod):
one account's key is refused (401, logged), another's status-list password is wrong."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml

from service.devkit.sandbox.accounts import (
    PARCELS_BUSINESS_ID,
    PARCELS_PUBLIC_KEY,
    PARCELS_SECRET_KEY,
    SMALL_BUSINESS_ID,
    SMALL_PUBLIC_KEY,
    SMALL_SECRET_KEY,
)
from tests.integration.relay_harness import (
    TopicReader,
    eventually,
    final_status,
    make_topics,
    produce,
    relay_process,
    relay_values,
    sms_event,
)

pytestmark = pytest.mark.integration

WRONG_PASSWORD = "wrong-password-for-small-7c1d"


async def test_accounts_file_secrets_reach_no_log_event_or_dead_letter(
    kafka_bootstrap, topic_factory, sandbox, tmp_path: Path
) -> None:
    topics = await make_topics(topic_factory)
    sandbox.call(
        lambda: setattr(sandbox.state.accounts.require(PARCELS_BUSINESS_ID), "active", False)
    )
    accounts = {
        "parcels": {
            "api_key_public": PARCELS_PUBLIC_KEY,
            "api_key_secret": PARCELS_SECRET_KEY,
            "business_id": PARCELS_BUSINESS_ID,
        },
        "small": {
            "api_key_public": SMALL_PUBLIC_KEY,
            "api_key_secret": SMALL_SECRET_KEY,
            "business_id": SMALL_BUSINESS_ID,
            "username": "small",
            "password": WRONG_PASSWORD,
        },
    }
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": accounts}), encoding="utf-8")
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        log_level="DEBUG",
        accounts_file=path,
        status_poll_seconds=0.2,
    )
    refused = sms_event(["0558544343"], account="parcels", sender_id=None)
    sent = sms_event(["0248769324"], account="small", sender_id="SMALL")
    unknown = sms_event(["0208765432"], account="nobody")
    log_path = tmp_path / "relay.log"
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        TopicReader(kafka_bootstrap, topics.dlq) as dlq,
        relay_process(values, log_path) as relay,
    ):
        await relay.wait_logged("relay_started", within=60)
        await produce(kafka_bootstrap, topics.inbound, [refused, sent, unknown])
        await out.wait_for(lambda rs: all(final_status(rs, e["event_id"]) for e in [sent, unknown]))
        await dlq.wait_for(lambda rs: len(rs) == 1)
        await eventually(lambda: relay.logged("sending_paused"), within=30)
        await eventually(lambda: relay.logged("status_poll_failed"), within=30)
        relay.signal(signal.SIGTERM)
        assert await relay.wait(within=60) == 0
        lines = relay.log_lines()

    paused = [line for line in lines if line.get("event") == "sending_paused"]
    assert {(line["account"], line["reason"]) for line in paused} >= {
        ("parcels", "credentials_rejected")
    }
    assert dlq.records[0]["reason"] == "unknown_account"
    everything = log_path.read_text() + str(out.records) + str(dlq.records)
    for secret in (PARCELS_SECRET_KEY, PARCELS_PUBLIC_KEY, SMALL_SECRET_KEY, WRONG_PASSWORD):
        assert secret not in everything
