"""The real JSON log lines of a full relay run leak no secret and no full phone number.

`python -m service run` runs as a subprocess configured only by `PUSHR_RELAY_*` variables
(the production entry point, so the configured secrets reach the log guards the way they
do in a pod), against the session broker and the sandbox over HTTP. The run covers the
paths that log: several numbers in every spelling, a recipient dropped one by one, an
invalid event (dead letter), Push.R 503s (retries) and a 401 (a wrong JWT on the status
list). Every line it wrote is then searched.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
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

WRONG_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJidXNpbmVzcyI6MX0.d3Jvbmctc2lnbmF0dXJlLWxlYWstdGVzdA"
RAW_FORMS = [
    "0558544343",
    "+233 24 876 9324",
    "233208765432",
    "055-854-4343",
    "(020) 876 5432",
    "+233-54-876-9324",
]
# 12-digit international and 10-digit national Ghana numbers, not inside longer digit runs
FULL_NUMBER = re.compile(r"(?<!\d)(?:233\d{9}|0[2-5]\d{8})(?!\d)")
SECRETS = [DEMO_SECRET_KEY, DEMO_PUBLIC_KEY, WRONG_JWT]


def leaks(text: str) -> list[str]:
    found = FULL_NUMBER.findall(text)
    found += [form for form in RAW_FORMS if form in text]
    found += [f"secret #{i}" for i, secret in enumerate(SECRETS) if secret in text]
    return found


def joined_leaks(lines: list[dict[str, Any]]) -> list[str]:
    """Numbers split by spaces, dashes or brackets, joined again (timestamps left out:
    `23:35:12.123456` joined would read as a number)."""
    found: list[str] = []
    for line in lines:
        rest = {k: v for k, v in line.items() if k != "timestamp"}
        found += FULL_NUMBER.findall(re.sub(r"[ \-()+]", "", orjson.dumps(rest).decode()))
    return found


async def test_a_full_run_logs_no_secret_and_no_full_number(
    kafka_bootstrap, topic_factory, sandbox, tmp_path: Path
) -> None:
    topics = await make_topics(topic_factory)
    # the first two sends answer 503: retried (and logged) before they go through
    sandbox.set_faults({"sequence": ["503", "503"], "endpoints": ["send-sms"]})
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        log_level="DEBUG",
        pushr_jwt=WRONG_JWT,
        status_poll_seconds=0.2,
    )
    # Producers do put numbers in ids: every line of these events carries one (context vars)
    events = [
        sms_event(RAW_FORMS[:3], event_id="cust-0558544343-1", metadata={"call": "0558544343"}),
        sms_event([*RAW_FORMS[3:], "+44 20 7946 0958"], event_id="cust-+233-24-876-9324"),
    ]
    invalid = {"event_id": "evt-233558544343", "recipients": ["0558544343"], "sender": "PYWE"}
    log_path = tmp_path / "relay.log"
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        relay_process(values, log_path) as relay,
    ):
        await relay.wait_logged("relay_started", within=60)
        await produce(kafka_bootstrap, topics.inbound, [*events, invalid])
        await out.wait_for(
            lambda rs: all(final_status(rs, e["event_id"]) for e in [*events, invalid])
        )
        await eventually(lambda: relay.logged("status_poll_failed"), within=30)
        relay.signal(signal.SIGTERM)
        assert await relay.wait(within=60) == 0
        lines = relay.log_lines()

    text = log_path.read_text()
    assert [line for line in lines if "raw" in line] == []  # every line is JSON
    by_event = {line.get("event") for line in lines}
    # a batch's retries are the deliverer's, each attempt one client call: `batch_deferred`
    assert {"relay_started", "event_dead_lettered", "batch_outcome", "batch_deferred"} <= by_event
    polls = [line for line in lines if line.get("event") == "status_poll_failed"]
    assert polls[0]["kind"] == "unauthorized"
    outcomes = [line for line in lines if line.get("event") == "batch_outcome"]
    assert len(outcomes) == 2
    for line in outcomes:
        assert {"event_id", "topic", "partition", "offset", "timestamp", "level"} <= set(line)
        assert line["timestamp"].endswith("Z")
    # masked, yet still telling the two events apart
    assert sorted(line["event_id"] for line in outcomes) == [
        "cust-+23324****324",
        "cust-0558****431",
    ]
    assert leaks(text) == []
    assert joined_leaks(lines) == []
