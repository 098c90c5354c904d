"""The delivery engine against Push.R misbehaving, on real parts: the relay in-process, the
session broker, and the sandbox over real HTTP with injected faults.

Timing claims are read from the sandbox's own traffic record (when each request arrived),
never from how long the test took.
"""

from __future__ import annotations

import itertools

import httpx
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


def send_requests(sandbox: RunningSandbox) -> list[RequestRecord]:
    return sandbox.traffic.requests("send-sms")


async def test_429_retry_after_is_honoured(kafka_bootstrap, topic_factory, sandbox) -> None:
    topics = await make_topics(topic_factory)
    # The relay's own backoff tops out at 0.5 s, so a retry a full second after the 429 can
    # only come from honouring Retry-After.
    sandbox.set_faults({"sequence": ["429"], "retry_after_s": 1, "endpoints": ["send-sms"]})
    event = sms_event(phone_numbers(2))
    settings = relay_settings(kafka_bootstrap, sandbox, topics, retry_backoff_cap=0.5)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(all_final([event["event_id"]]), within=30)
        await relay.stop()

    throttled, retried = send_requests(sandbox)
    assert (throttled.status, throttled.fault) == (429, "429")
    assert retried.outcome == "accepted"
    assert retried.time - throttled.time >= 1.0
    (result,) = of_type(records, "result", event["event_id"])
    assert (result["outcome"], result["attempts"]) == ("sent", 2)
    assert final_state(records, event["event_id"]) == "sent"
    assert sandbox.traffic.duplicate_sends() == []


async def test_5xx_burst_is_retried_to_success(kafka_bootstrap, topic_factory, sandbox) -> None:
    topics = await make_topics(topic_factory)
    # Longer than one call's attempts (6) and long enough to open the breaker (5 in a row):
    # the batch has to survive both, not just the client's retry loop.
    burst = ["500", "502", "503", "504", "503", "500", "502", "503"]
    sandbox.set_faults({"sequence": burst, "endpoints": ["send-sms"]})
    recipients = phone_numbers(3)
    event = sms_event(recipients)
    settings = relay_settings(kafka_bootstrap, sandbox, topics)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(all_final([event["event_id"]]), within=60)
        await relay.stop()
        assert relay.metric("pushr_relay_provider_retries_total", {"endpoint": "send-sms"}) >= 1

    requests = send_requests(sandbox)
    assert [r.fault for r in requests[: len(burst)]] == burst
    assert [r.outcome for r in requests] == ["fault"] * len(burst) + ["accepted"]
    (result,) = of_type(records, "result", event["event_id"])
    assert result["outcome"] == "sent"
    assert result["pushr_message_id"] == requests[-1].message_ids[0]
    assert final_state(records, event["event_id"]) == "sent"
    for number in recipients:
        assert sandbox.traffic.sends_for(international(number)) == 1


# fault -> whether the sandbox processed (and charged) the request before failing it
AMBIGUOUS_FAULTS = {"late": True, "hang": False, "reset": True}


# every transport: each maps its own exceptions, and a mapping slip would resend
@pytest.mark.parametrize("transport", ["aiohttp", "httpx", "lean"])
@pytest.mark.parametrize("fault", sorted(AMBIGUOUS_FAULTS))
async def test_ambiguous_reply_at_most_once_is_unknown_and_never_resent(
    kafka_bootstrap, topic_factory, sandbox, fault: str, transport: str
) -> None:
    topics = await make_topics(topic_factory)
    sandbox.set_faults({"sequence": [fault], "late_delay_s": 3, "endpoints": ["send-sms"]})
    event = sms_event(phone_numbers(2), delivery="at_most_once")
    settings = relay_settings(
        kafka_bootstrap, sandbox, topics, http_read_timeout=0.5, http_transport=transport
    )
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(all_final([event["event_id"]]), within=30)
        await relay.stop()  # drained: nothing can be resent after this point
        assert relay.metric("pushr_relay_unknown_outcomes_total", {"delivery": "at_most_once"}) == 1

    (request,) = send_requests(sandbox)
    assert request.fault == fault
    processed = AMBIGUOUS_FAULTS[fault]
    assert sandbox.traffic.accepted_sends == (2 if processed else 0)
    (result,) = of_type(records, "result", event["event_id"])
    assert result["outcome"] == "unknown"
    assert result["detail"]  # says why, for whoever reconciles
    assert final_state(records, event["event_id"]) == "unknown"


@pytest.mark.parametrize("fault", sorted(AMBIGUOUS_FAULTS))
async def test_ambiguous_reply_at_least_once_is_resent(
    kafka_bootstrap, topic_factory, sandbox, fault: str
) -> None:
    topics = await make_topics(topic_factory)
    sandbox.set_faults({"sequence": [fault], "late_delay_s": 3, "endpoints": ["send-sms"]})
    recipients = phone_numbers(2)
    event = sms_event(recipients, delivery="at_least_once")
    settings = relay_settings(kafka_bootstrap, sandbox, topics, http_read_timeout=0.5)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(all_final([event["event_id"]]), within=30)
        await relay.stop()

    first, resent = send_requests(sandbox)
    assert first.fault == fault
    assert (resent.outcome, resent.fault) == ("accepted", None)
    # at_least_once accepts the duplicate when the first request was processed after all
    expected = 2 if AMBIGUOUS_FAULTS[fault] else 1
    for number in recipients:
        assert sandbox.traffic.sends_for(international(number)) == expected
    (result,) = of_type(records, "result", event["event_id"])
    assert result["outcome"] == "sent"
    assert result["pushr_message_id"] == resent.message_ids[0]
    assert final_state(records, event["event_id"]) == "sent"


async def test_refused_connections_are_not_ambiguous_even_at_most_once(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    recipients = phone_numbers(2)
    event = sms_event(recipients, delivery="at_most_once")
    settings = relay_settings(kafka_bootstrap, sandbox, topics)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        sandbox.outage(1.0)  # nothing listens: the request never left, so it is retried
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(all_final([event["event_id"]]), within=30)
        await relay.stop()
        assert relay.metric("pushr_relay_unknown_outcomes_total", {"delivery": "at_most_once"}) == 0
        refused = {"endpoint": "send-sms", "outcome": "retry_safe"}
        assert relay.metric("pushr_relay_provider_requests_total", refused) >= 1

    assert final_state(records, event["event_id"]) == "sent"
    (request,) = send_requests(sandbox)  # refused attempts never reach the traffic record
    assert request.outcome == "accepted"
    for number in recipients:
        assert sandbox.traffic.sends_for(international(number)) == 1


async def test_insufficient_balance_pauses_and_resumes_after_top_up(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    recheck = 0.3
    # Business 2 holds 1.00 GHS at 0.03 per unit: six 5-recipient batches fit, eight do not.
    events = [sms_event(phone_numbers(5), sender_id="SMALL") for _ in range(8)]
    event_ids = [e["event_id"] for e in events]
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        pushr_api_key_public=SMALL_PUBLIC_KEY,
        pushr_api_key_secret=SMALL_SECRET_KEY,
        pushr_business_id=SMALL_BUSINESS_ID,
        batch_size=5,
        balance_recheck_seconds=recheck,
    )
    paused = {"reason": "insufficient_balance"}

    def balance_refusals() -> list[RequestRecord]:
        return [r for r in send_requests(sandbox) if (r.status, r.outcome) == (400, "rejected")]

    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
        httpx.AsyncClient(base_url=sandbox.base_url, timeout=5) as admin,
    ):
        await produce(kafka_bootstrap, topics.inbound, events)
        await eventually(lambda: relay.metric("pushr_relay_sending_paused", paused) == 1)
        # a few probes go out while paused: the pause is held, not a single refusal. The two
        # batches that do not fit may both be refused before the pause; three probes follow.
        await eventually(lambda: len(balance_refusals()) >= 5, within=20)
        assert not all_final(event_ids)(out.records)  # some events wait for the money
        answer = await admin.post(
            "/_sandbox/balance", json={"business": SMALL_BUSINESS_ID, "top_up": "10.00"}
        )
        assert answer.status_code == 200
        records = await out.wait_for(all_final(event_ids), within=30)
        assert relay.metric("pushr_relay_sending_paused", paused) == 0
        await relay.stop()

    assert [final_state(records, e) for e in event_ids] == ["sent"] * len(events)
    for event in events:
        for number in event["recipients"]:
            assert sandbox.traffic.sends_for(international(number)) == 1
    assert sandbox.traffic.accepted_sends == 40
    assert sandbox.traffic.duplicate_sends() == []
    # While paused, one probe per recheck interval, not a retry storm: after the refusals
    # of the batches already in the air when the money ran out, refusals are spaced out.
    refusals = balance_refusals()
    first = refusals[0].time
    probes = [r.time for r in refusals if r.time - first > recheck * 0.8]
    assert len(probes) >= 3
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert min(gaps) >= recheck * 0.8
