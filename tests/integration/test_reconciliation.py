"""Reconciliation on real parts: the relay (in-process, and as a process killed mid-way), the
session broker, a real Redis ledger, and the sandbox over HTTP with its faults and its list.

For each verdict the sandbox's own traffic record is the judge: how many times it accepted
the (text, recipient) pair. Timings are the relay's settings (short windows and settle
times), never assertions.
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from service.contract.schemas import RESULT, STATUS, schema_errors
from service.devkit.sandbox import RunningSandbox
from service.settings import Settings
from tests.integration.relay_harness import (
    TopicReader,
    final_status,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    redis_ledger,
    relay_process,
    relay_settings,
    relay_values,
    running_relay,
    sms_event,
)

pytestmark = [pytest.mark.integration, pytest.mark.redis]

# A request's window closes 2.5 s after its claim (pool + connect + write + read); the verdict
# comes a settle time (1.5 s) and a skew (0.5 s) later, at the next round (every 0.5 s).
FAST: dict[str, Any] = {
    "http_read_timeout": 1.0,
    "http_connect_timeout": 0.5,
    "http_write_timeout": 0.5,
    "http_pool_timeout": 0.5,
    "reconcile_settle_seconds": 1.5,
    "reconcile_clock_skew_seconds": 0.5,
    "status_poll_seconds": 0.5,
    "ledger_lease_seconds": 5.0,
}
SEND_ONLY = ["send-sms"]  # faults for sends; the list answers


def settled(event_id: str) -> Any:
    """Predicate: the event's last status is final and no verdict is awaited."""

    def check(records: list[dict[str, Any]]) -> bool:
        last = final_status(records, event_id)
        return last is not None and last["reason"] != "reconciling"

    return check


def story(records: list[dict[str, Any]], event_id: str) -> list[tuple[Any, ...]]:
    out = []
    for r in records:
        if r.get("event_id") != event_id:
            continue
        if r["type"] == "result":
            out.append(("result", r["outcome"], r.get("reconciliation")))
        else:
            out.append(("status", r["status"], r["reason"]))
    return out


def valid(records: list[dict[str, Any]]) -> bool:
    return all(schema_errors(RESULT if r["type"] == "result" else STATUS, r) == [] for r in records)


def settings_for(bootstrap, sandbox: RunningSandbox, topics, redis_url, prefix, **extra: Any):
    return relay_settings(
        bootstrap,
        sandbox,
        topics,
        pushr_jwt=sandbox.issue_token(1),
        **redis_ledger(redis_url, prefix),
        **{**FAST, **extra},
    )


@pytest.mark.parametrize("mode", ["at_most_once", "at_least_once"])
@pytest.mark.parametrize(
    ("fault", "verdict"),
    [("hang", "not_sent"), ("reset", "sent"), ("late", "sent")],
)
async def test_an_ambiguous_send_ends_reconciled_with_one_sms(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, fault, verdict, mode
) -> None:
    topics = await make_topics(topic_factory)
    # hang: never processed; reset, late: processed, answered badly or too late
    sandbox.set_faults({"sequence": [fault], "late_delay_s": 2.5, "endpoints": SEND_ONLY})
    (number,) = phone_numbers(1)
    event = sms_event([number], message=f"Code {uuid.uuid4().hex[:6]}", delivery=mode)
    settings = settings_for(kafka_bootstrap, sandbox, topics, redis_url, redis_key_prefix)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(settled(event["event_id"]), within=60)
        assert relay.metric("pushr_relay_reconcile_handoffs_total", {"delivery": mode}) == 1
        labels = {"verdict": verdict, "delivery": mode}
        assert relay.metric("pushr_relay_reconcile_verdicts_total", labels) == 1

    assert story(records, event["event_id"]) == [
        ("status", "accepted", None),
        ("result", "unknown", "pending"),
        ("status", "unknown", "reconciling"),
        ("result", "sent", verdict),
        ("status", "sent", "reconciled"),
    ]
    assert valid(records)
    assert sandbox.traffic.sends_for(international(number), event["message"]) == 1
    assert sandbox.traffic.duplicate_sends() == []
    reconciled = of_type(records, "result", event["event_id"])[-1]
    assert reconciled["reconciled"] is True
    if verdict == "sent":  # the id the list showed is the one Push.R gave the request
        (accepted,) = sandbox.traffic.accepted_requests("send-sms")
        assert reconciled["pushr_message_id"] == accepted.message_ids[0]


async def test_identical_texts_stay_ambiguous_and_are_never_guessed(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix
) -> None:
    topics = await make_topics(topic_factory)
    # one of two identical requests is processed, the other never is: which one cannot be told
    sandbox.set_faults({"sequence": ["late", "hang"], "late_delay_s": 2.5, "endpoints": SEND_ONLY})
    text = f"Weekend sale {uuid.uuid4().hex[:6]}"
    events = [sms_event([n], message=text) for n in phone_numbers(2)]
    settings = settings_for(kafka_bootstrap, sandbox, topics, redis_url, redis_key_prefix)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, events, concurrent=True)
        for event in events:
            await out.wait_for(settled(event["event_id"]), within=60)
        labels = {"verdict": "ambiguous", "delivery": "at_most_once"}
        assert relay.metric("pushr_relay_reconcile_verdicts_total", labels) == 2
        records = out.records

    for event in events:
        assert story(records, event["event_id"])[-2:] == [
            ("result", "unknown", "ambiguous"),
            ("status", "unknown", "reconciled"),
        ]
    assert valid(records)
    assert len(sandbox.traffic.accepted_requests("send-sms")) == 1  # nothing sent again
    assert sandbox.traffic.duplicate_sends() == []


async def test_a_relay_killed_before_its_verdict_loses_none_of_it(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, tmp_path: Path
) -> None:
    topics = await make_topics(topic_factory)
    sandbox.set_faults({"sequence": ["hang"], "endpoints": SEND_ONLY})
    (number,) = phone_numbers(1)
    event = sms_event([number], message=f"Code {uuid.uuid4().hex[:6]}")
    values = relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        pushr_jwt=sandbox.issue_token(1),
        **redis_ledger(redis_url, redis_key_prefix),
        # a settle time long enough that the first relay is surely killed before its verdict
        **{**FAST, "reconcile_settle_seconds": 8.0, "status_poll_seconds": 1.0},
    )
    async with TopicReader(kafka_bootstrap, topics.outbound) as out:
        async with relay_process(values, tmp_path / "first.log") as first:
            await first.wait_logged("relay_started")
            await produce(kafka_bootstrap, topics.inbound, [event])
            await out.wait_for(
                lambda rs: any(r.get("reconciliation") == "pending" for r in rs), within=60
            )
            assert first.logged("batch_handed_to_reconciler")
            first.signal(signal.SIGKILL)
            await first.wait()
            assert not first.logged("batch_reconciled")
        # another replica: the same group and ledger, a fresh process with nothing in memory
        async with running_relay(Settings.model_validate(values)):
            records = await out.wait_for(settled(event["event_id"]), within=90)

    assert story(records, event["event_id"])[-2:] == [
        ("result", "sent", "not_sent"),
        ("status", "sent", "reconciled"),
    ]
    assert sandbox.traffic.sends_for(international(number), event["message"]) == 1
    assert sandbox.traffic.duplicate_sends() == []


async def test_without_a_list_token_nothing_changes(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix
) -> None:
    topics = await make_topics(topic_factory)
    sandbox.set_faults({"sequence": ["reset"], "endpoints": SEND_ONLY})
    event = sms_event(phone_numbers(1))
    settings = relay_settings(
        kafka_bootstrap, sandbox, topics, **redis_ledger(redis_url, redis_key_prefix), **FAST
    )
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(settled(event["event_id"]), within=30)
        handoffs = relay.metric(
            "pushr_relay_reconcile_handoffs_total", {"delivery": "at_most_once"}
        )

    assert story(records, event["event_id"]) == [
        ("status", "accepted", None),
        ("result", "unknown", None),
        ("status", "unknown", None),
    ]
    assert "reconciled" not in of_type(records, "result")[0]
    assert handoffs == 0
