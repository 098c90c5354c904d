"""Priority lanes on real parts: the relay in-process, the session broker, the sandbox over
real HTTP. Every claim is read from the sandbox's traffic record (the order in which Push.R
saw the requests, who was accepted) and the outbound topic, never from how long anything
took: a critical event overtakes a bulk backlog, bulk keeps its share beside normal
traffic, and a one-time password that expires while sending is held (no balance, Push.R
down) is never sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.devkit.sandbox import (
    SMALL_BUSINESS_ID,
    SMALL_PUBLIC_KEY,
    SMALL_SECRET_KEY,
    RunningSandbox,
)
from service.devkit.sandbox.traffic import RequestRecord
from tests.integration.relay_harness import (
    TopicReader,
    all_final,
    eventually,
    final_state,
    final_status,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.integration

RATE = 20.0  # requests/s to Push.R: the backlogs below take seconds to drain


def sends(sandbox: RunningSandbox) -> list[RequestRecord]:
    return sorted(sandbox.traffic.requests("send-sms"), key=lambda r: r.seq)


def in_seconds(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def otp(**fields: Any) -> dict[str, Any]:
    return sms_event(phone_numbers(1), message="Your login code is 482193.", **fields)


@pytest.mark.parametrize("via", ["field", "lane topic"])
async def test_a_critical_event_overtakes_a_queued_bulk_backlog(
    kafka_bootstrap, topic_factory, sandbox, via: str
) -> None:
    topics = await make_topics(topic_factory)
    critical_topic = await topic_factory("critical")
    sandbox.set_faults({"latency_ms": 20})
    # one draw for all five: the same text to one number in two events would read as a
    # duplicate send
    pool = phone_numbers(5000)
    bulk = [sms_event(pool[i::5], priority="bulk") for i in range(5)]  # 100 batches
    code = otp(priority="critical") if via == "field" else otp()
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        rate_limit_rps=RATE,
        batch_size=50,
        in_topic_critical=critical_topic,
    )
    ids = [e["event_id"] for e in [*bulk, code]]
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, bulk, concurrent=True)
        await eventually(lambda: len(sends(sandbox)) >= 5, within=60)  # the backlog flows
        ahead = len(sends(sandbox))
        await produce(kafka_bootstrap, topics.inbound if via == "field" else critical_topic, [code])
        records = await out.wait_for(all_final(ids), within=90)
        await relay.stop()

    order = sends(sandbox)
    assert len(order) == 101
    position = next(i for i, r in enumerate(order) if r.recipients_count == 1)
    # When it was produced, over 90 bulk batches were queued. It went within the requests
    # sent while it was being fetched and decoded, far ahead of the backlog (first come,
    # first served, it would have been the last request).
    assert ahead <= position < ahead + 25, (ahead, position)
    assert len(order) - position > 60
    final = final_status(records, code["event_id"])
    assert final is not None
    assert (final["status"], final["priority"]) == ("sent", "critical")
    assert [final_state(records, e["event_id"]) for e in bulk] == ["sent"] * len(bulk)
    assert sandbox.traffic.duplicate_sends() == []


async def test_bulk_keeps_its_share_beside_a_normal_backlog(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    # Normal events of 40 recipients (one batch each) and bulk events of 500 (ten batches of
    # 50): a request's size tells its lane. All are waiting before the relay starts.
    pool = phone_numbers(3600)  # distinct across events: one text, so no number twice
    normal = [sms_event(pool[i * 40 : (i + 1) * 40]) for i in range(40)]
    bulk = [sms_event(pool[1600 + i * 500 : 2100 + i * 500], priority="bulk") for i in range(4)]
    await produce(kafka_bootstrap, topics.inbound, [*normal, *bulk], concurrent=True)
    settings = relay_settings(kafka_bootstrap, sandbox, topics, rate_limit_rps=RATE, batch_size=50)
    ids = [e["event_id"] for e in [*normal, *bulk]]
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await out.wait_for(all_final(ids), within=90)
        await relay.stop()

    order = sends(sandbox)
    assert len(order) == 80
    first = [r.recipients_count for r in order[:40]]
    # weights 3 : 1 while both lanes wait: about 10 bulk requests in the first 40, not 0
    assert 6 <= first.count(50) <= 14, first
    assert first.count(40) >= 26
    assert sandbox.traffic.duplicate_sends() == []


async def test_an_otp_that_expires_during_a_balance_pause_is_never_sent(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    sandbox.set_balance(SMALL_BUSINESS_ID, "0.00")
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        pushr_api_key_public=SMALL_PUBLIC_KEY,
        pushr_api_key_secret=SMALL_SECRET_KEY,
        pushr_business_id=SMALL_BUSINESS_ID,
        balance_recheck_seconds=0.3,
    )
    waiting = sms_event(phone_numbers(1), sender_id="SMALL")  # no expiry: waits for the money
    code = otp(sender_id="SMALL", priority="critical", expires_at=in_seconds(3))
    paused = {"reason": "insufficient_balance"}
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [waiting])
        await eventually(lambda: relay.metric("pushr_relay_sending_paused", paused) == 1)
        await produce(kafka_bootstrap, topics.inbound, [code])
        await out.wait_for(all_final([code["event_id"]]), within=30)
        assert relay.metric("pushr_relay_sending_paused", paused) == 1  # expired while paused
        sandbox.top_up(SMALL_BUSINESS_ID, "10.00")
        records = await out.wait_for(all_final([waiting["event_id"]]), within=30)
        await relay.stop()
        expired = relay.metric("pushr_relay_batches_expired_total", {"priority": "critical"})

    (result,) = of_type(records, "result", code["event_id"])
    assert result["outcome"] == "expired"
    final = final_status(records, code["event_id"])
    assert final is not None
    assert (final["status"], final["batches"]["expired"]) == ("expired", 1)
    assert expired == 1
    assert sandbox.traffic.sends_for(international(code["recipients"][0])) == 0
    assert sandbox.traffic.sends_for(international(waiting["recipients"][0])) == 1


async def test_an_otp_that_expires_while_push_r_is_down_is_never_sent(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    settings = relay_settings(kafka_bootstrap, sandbox, topics)
    warm_up, waiting = sms_event(phone_numbers(1)), sms_event(phone_numbers(1))
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [warm_up])
        await out.wait_for(all_final([warm_up["event_id"]]), within=60)  # consuming now
        sandbox.outage(5.0)  # nothing listens: every attempt is refused, the breaker opens
        code = otp(priority="critical", expires_at=in_seconds(2.5))
        await produce(kafka_bootstrap, topics.inbound, [waiting, code])
        records = await out.wait_for(all_final([waiting["event_id"], code["event_id"]]), within=60)
        await relay.stop()

    (result,) = of_type(records, "result", code["event_id"])
    assert result["outcome"] == "expired"
    final = final_status(records, code["event_id"])
    assert final is not None
    assert final["status"] == "expired"
    assert final_state(records, waiting["event_id"]) == "sent"
    assert sandbox.traffic.sends_for(international(code["recipients"][0])) == 0
    assert sandbox.traffic.duplicate_sends() == []
