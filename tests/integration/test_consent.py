"""Consent on real parts: the session broker (the opt-out topic, compacted, and the
in-topic), a real Redis shared by two relays, the sandbox over real HTTP. What reached
Push.R is read from the sandbox's own records; time is moved on the relays' injected clock,
never the wall clock."""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.clock import SystemClock
from service.contract.consent import OptOut, Scope, build_optout
from service.devkit.sandbox import RunningSandbox
from service.kafka.admin import create_topics
from service.ops.optout import lookup
from service.ops.optout import produce as produce_optouts
from service.settings import Settings
from tests.integration.relay_harness import (
    RunningRelay,
    TopicReader,
    Topics,
    all_final,
    eventually,
    final_status,
    group_stable_with,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    redis_ledger,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.integration

DAY = 86_400.0


class MovedClock(SystemClock):
    """The system's clock with its wall time moved by the test; sleeps stay real."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset


async def optout_topic(bootstrap: str) -> str:
    name = f"optouts-{uuid.uuid4().hex[:10]}"
    await create_topics(bootstrap, [name], 2, 1, config={"cleanup.policy": "compact"})
    return name


def consent_settings(
    bootstrap: str, sandbox: RunningSandbox, topics: Topics, optouts: str, **more: Any
) -> Settings:
    return relay_settings(
        bootstrap, sandbox, topics, optout_enabled=True, optout_topic=optouts, **more
    )


async def opt_out(settings: Settings, national: str, scope: Scope = "all") -> None:
    """What `pushr-relay optout add` does, with the relay's own settings."""
    record = build_optout(national, opted_out=True, scope=scope, at=time.time(), source="test")
    assert isinstance(record, OptOut)
    await produce_optouts(settings, [record])


async def list_holds(relay: RunningRelay, count: int) -> None:
    """The store holds `count` numbers, and this relay's reader has read to the end."""

    def read() -> bool:
        return (
            relay.metric("pushr_relay_optout_list_numbers") == count
            and relay.metric("pushr_relay_optout_lag_records") == 0
        )

    await eventually(read, within=30)


async def test_an_opt_out_produced_while_two_relays_run_is_honoured_by_every_replica(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix
) -> None:
    topics = await make_topics(topic_factory, partitions=4)
    optouts = await optout_topic(kafka_bootstrap)
    ama, kofi = phone_numbers(2)
    settings = consent_settings(
        kafka_bootstrap, sandbox, topics, optouts, **redis_ledger(redis_url, redis_key_prefix)
    )
    before = sms_event([ama, kofi], message="Before the opt-out")
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as first,
        running_relay(settings) as second,
    ):
        await produce(kafka_bootstrap, topics.inbound, [before])
        await out.wait_for(all_final([before["event_id"]]))
        await eventually(
            lambda: group_stable_with(kafka_bootstrap, settings.group_id, 2), within=45
        )
        await opt_out(settings, ama)
        await list_holds(first, 1)
        await list_holds(second, 1)
        assert await lookup(settings, [international(ama)]) == {international(ama): "all"}
        # events on every partition, so both replicas send some of them; a few more rounds
        # (bounded) while the group is still settling who owns which partition
        after: list[dict[str, Any]] = []
        for round_ in range(4):
            more = [sms_event([ama, kofi], message=f"After {round_}.{i}") for i in range(16)]
            after += more
            await produce(kafka_bootstrap, topics.inbound, more, concurrent=True)
            records = await out.wait_for(all_final([e["event_id"] for e in after]))
            handled = [r.metric("pushr_relay_events_accepted_total") for r in (first, second)]
            if min(handled) >= 2:  # `before` counts once, on one of them
                break

    assert sandbox.traffic.sends_for(international(ama), "Before the opt-out") == 1
    assert min(handled) >= 2, handled  # both replicas sent events after the opt-out
    for event in after:
        assert sandbox.traffic.sends_for(international(ama), event["message"]) == 0
        assert sandbox.traffic.sends_for(international(kofi), event["message"]) == 1
        final = final_status(records, event["event_id"])
        assert final is not None
        assert final["status"] == "sent"
        assert final["rejected_recipients"][0]["reason"] == "opted_out"
    assert international(ama) not in str(records)
    assert sandbox.traffic.duplicate_sends() == []


async def test_a_restart_keeps_the_list_with_nothing_but_the_topic(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    """The memory store: all a restarted relay has is the topic, read from the beginning."""
    topics = await make_topics(topic_factory)
    optouts = await optout_topic(kafka_bootstrap)
    ama, kofi = phone_numbers(2)
    settings = consent_settings(kafka_bootstrap, sandbox, topics, optouts)
    async with running_relay(settings) as relay:
        await opt_out(settings, ama)
        await list_holds(relay, 1)
    event = sms_event([ama, kofi], message="After the restart")
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as restarted,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        records = await out.wait_for(all_final([event["event_id"]]))
        assert restarted.metric("pushr_relay_optout_list_numbers") == 1
        assert (
            restarted.metric("pushr_relay_recipients_dropped_total", {"reason": "opted_out"}) == 1
        )
    assert sandbox.traffic.sends_for(international(ama), "After the restart") == 0
    assert sandbox.traffic.sends_for(international(kofi), "After the restart") == 1
    (result,) = of_type(records, "result", event["event_id"])
    assert result["recipients_count"] == 1


async def test_scope_bulk_stops_a_campaign_and_lets_a_critical_otp_through(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    optouts = await optout_topic(kafka_bootstrap)
    (ama,) = phone_numbers(1)
    settings = consent_settings(kafka_bootstrap, sandbox, topics, optouts)
    campaign = sms_event([ama], message="Weekend sale: 20% off", priority="bulk")
    otp = sms_event([ama], message="Your login code is 482193.", priority="critical")
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await opt_out(settings, ama, scope="bulk")
        await list_holds(relay, 1)
        await produce(kafka_bootstrap, topics.inbound, [campaign, otp])
        records = await out.wait_for(all_final([campaign["event_id"], otp["event_id"]]))
    assert sandbox.traffic.sends_for(international(ama), otp["message"]) == 1
    assert sandbox.traffic.sends_for(international(ama), campaign["message"]) == 0
    rejected = final_status(records, campaign["event_id"])
    assert rejected is not None
    assert (rejected["status"], rejected["reason"]) == ("rejected", "opted_out")
    (result,) = of_type(records, "result", campaign["event_id"])
    assert (result["outcome"], result["attempts"]) == ("rejected", 0)
    assert [r.endpoint for r in sandbox.traffic.requests("send-sms")] == ["send-sms"]


def accra_evening_offset() -> tuple[float, datetime]:
    """An offset that puts the relay's clock at 21:00 Accra (UTC+0) tomorrow, and the
    08:00 after it: quiet hours, in the future for the sandbox's own clock."""
    now = datetime.now(UTC)
    evening = (now + timedelta(days=1)).replace(hour=21, minute=0, second=0, microsecond=0)
    return evening.timestamp() - now.timestamp(), evening + timedelta(hours=11)


async def test_a_bulk_event_inside_quiet_hours_reaches_push_r_scheduled_for_8_in_accra(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    (ama,) = phone_numbers(1)
    offset, morning = accra_evening_offset()
    settings = relay_settings(kafka_bootstrap, sandbox, topics, quiet_hours_enabled=True)
    campaign = sms_event([ama], message="Tonight only: 2-for-1", priority="bulk")
    receipt = sms_event([ama], message="Receipt 1182: GHS 40.00")
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings, clock=MovedClock(offset)) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [campaign, receipt])
        records = await out.wait_for(all_final([campaign["event_id"], receipt["event_id"]]))
        assert relay.metric("pushr_relay_bulk_deferred_batches_total") == 1
    due = {m.text: m.sent_at for m in sandbox.server.state.messages.page(1, 0, 10)}
    assert due[campaign["message"]] == morning.timestamp()  # the sandbox's due time
    assert due[receipt["message"]] < morning.timestamp() - 3600  # normal: at once
    (result,) = of_type(records, "result", campaign["event_id"])
    assert result["outcome"] == "scheduled"
    assert result["scheduled_for"] == morning.strftime("%Y-%m-%dT%H:%M:%SZ")
    final = final_status(records, campaign["event_id"])
    assert final is not None
    assert final["status"] == "scheduled"


async def test_the_frequency_cap_holds_under_two_relays(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix
) -> None:
    topics = await make_topics(topic_factory, partitions=4)
    ama, *others = phone_numbers(13)
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        frequency_cap=2,
        **redis_ledger(redis_url, redis_key_prefix),
    )
    campaigns = [
        sms_event([ama, other], message=f"Promo {i}", priority="bulk")
        for i, other in enumerate(others)
    ]
    async with contextlib.AsyncExitStack() as stack:
        out = await stack.enter_async_context(TopicReader(kafka_bootstrap, topics.outbound))
        relays = [await stack.enter_async_context(running_relay(settings)) for _ in range(2)]
        # both replicas own partitions before anything is sent, so the cap is shared for real
        await eventually(
            lambda: group_stable_with(kafka_bootstrap, settings.group_id, 2), within=45
        )
        await produce(kafka_bootstrap, topics.inbound, campaigns, concurrent=True)
        records = await out.wait_for(all_final([e["event_id"] for e in campaigns]))
        handled = [r.metric("pushr_relay_events_accepted_total") for r in relays]
    assert min(handled) >= 1, handled
    reached = sum(sandbox.traffic.sends_for(international(ama), e["message"]) for e in campaigns)
    assert reached == 2
    for event, other in zip(campaigns, others, strict=True):
        assert sandbox.traffic.sends_for(international(other), event["message"]) == 1
    capped = [
        r
        for r in of_type(records, "result")
        for dropped in r.get("rejected_recipients", [])
        if dropped["reason"] == "frequency_capped"
    ]
    assert len(capped) == len(campaigns) - 2
