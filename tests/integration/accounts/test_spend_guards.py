"""The spend and blast-radius guards on the real broker, Redis and the sandbox: a budget of
N units holds the batch that would pass it and loses nothing; two relays share one budget
and never overspend it together; a looping producer is held by the blast-radius guard;
`pushr-relay accounts release` lifts a hold and the held events are sent once each."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from service.devkit.sandbox.accounts import (
    PARCELS_BUSINESS_ID,
    PARCELS_PUBLIC_KEY,
    PARCELS_SECRET_KEY,
)
from service.ops.accounts import account_states, release
from service.settings import Settings
from tests.integration.relay_harness import (
    RunningRelay,
    TopicReader,
    all_final,
    eventually,
    final_state,
    group_stable_with,
    make_topics,
    phone_numbers,
    produce,
    redis_ledger,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.integration


def accounts_file(tmp_path: Path, accounts: dict[str, Any]) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": accounts}), encoding="utf-8")
    return path


def held_for(relay: RunningRelay, account: str, reason: str) -> float:
    return relay.metric("pushr_relay_account_held", {"account": account, "reason": reason})


def sent(records: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events if final_state(records, e["event_id"]) == "sent"]


async def release_hold(settings: Settings, account: str, window: str) -> list[str]:
    assert settings.redis_url is not None
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        return await release(settings, client, account, window, time.time())
    finally:
        await client.aclose()


async def states(settings: Settings) -> dict[str, dict[str, Any]]:
    assert settings.redis_url is not None
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        found = await account_states(settings, client, time.time())
    finally:
        await client.aclose()
    return {s["account"]: s for s in found}


async def test_a_budget_of_n_units_holds_the_next_batch_and_loses_nothing(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, tmp_path
) -> None:
    topics = await make_topics(topic_factory)
    # the `default` entry adds a budget to the single-account keys of the environment
    path = accounts_file(tmp_path, {"default": {"budgets": {"day": {"units": 5}}}})
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        accounts_file=path,
        **redis_ledger(redis_url, redis_key_prefix),
    )
    events = [sms_event([n]) for n in phone_numbers(8)]  # one unit each
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, events)
        await out.wait_for(lambda rs: len(sent(rs, events)) == 5)
        await eventually(lambda: held_for(relay, "default", "budget_exceeded") == 1)
        await asyncio.sleep(1.0)  # three probe intervals: the hold keeps holding
        assert len(sent(out.records, events)) == 5
        assert len(sandbox.traffic.accepted_requests("send-sms")) == 5
        shown = (await states(settings))["default"]
        assert shown["held"] == ["budget_exceeded"]
        assert shown["budgets"]["day units"] == {
            "used": 5,
            "limit": 5,
            "left": 0,
            "released": False,
        }
        assert (
            relay.metric(
                "pushr_relay_budget_used",
                {"account": "default", "window": "day", "measure": "units"},
            )
            == 5
        )

        lines = await release_hold(settings, "default", "day")
        assert lines[0].startswith("released default: day budget")
        records = await out.wait_for(all_final([e["event_id"] for e in events]))
        assert len(sent(records, events)) == 8
    assert sandbox.traffic.duplicate_sends() == []
    assert len(sandbox.traffic.accepted_requests("send-sms")) == 8


async def test_two_relays_share_one_budget_and_never_overspend_it(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, tmp_path
) -> None:
    topics = await make_topics(topic_factory, partitions=4)
    path = accounts_file(tmp_path, {"default": {"budgets": {"day": {"units": 20}}}})
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        accounts_file=path,
        **redis_ledger(redis_url, redis_key_prefix),
    )
    events = [sms_event([n]) for n in phone_numbers(60)]
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as first,
        running_relay(settings) as second,
    ):
        # both replicas own partitions before anything is sent, so both spend from the budget
        await eventually(
            lambda: group_stable_with(kafka_bootstrap, settings.group_id, 2), within=45
        )
        await produce(kafka_bootstrap, topics.inbound, events, concurrent=True)
        await out.wait_for(lambda rs: len(sent(rs, events)) == 20)
        await eventually(
            lambda: (
                held_for(first, "default", "budget_exceeded") == 1
                or held_for(second, "default", "budget_exceeded") == 1
            )
        )
        await asyncio.sleep(1.0)
        # both relays sent at once from one shared budget: exactly 20, never one more
        assert len(sandbox.traffic.accepted_requests("send-sms")) == 20
        assert len(sent(out.records, events)) == 20
        assert first.metric("pushr_relay_events_accepted_total") > 0
        assert second.metric("pushr_relay_events_accepted_total") > 0

        await release_hold(settings, "default", "day")
        records = await out.wait_for(all_final([e["event_id"] for e in events]))
        assert len(sent(records, events)) == 60
    assert sandbox.traffic.duplicate_sends() == []


async def test_the_blast_radius_guard_holds_a_looping_producer_only(
    kafka_bootstrap, topic_factory, sandbox, redis_url, redis_key_prefix, tmp_path
) -> None:
    topics = await make_topics(topic_factory)
    parcels = {
        "api_key_public": PARCELS_PUBLIC_KEY,
        "api_key_secret": PARCELS_SECRET_KEY,
        "business_id": PARCELS_BUSINESS_ID,
        "blast_radius": {"recipients": 5, "minutes": 10},
    }
    path = accounts_file(tmp_path, {"parcels": parcels})
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        accounts_file=path,
        **redis_ledger(redis_url, redis_key_prefix),
    )
    (number,) = phone_numbers(1)
    text = "Your parcel is out for delivery."
    # a producer stuck in a loop: the same text to the same number, again and again
    loop = [
        sms_event([number], account="parcels", sender_id="PARCELS", message=text) for _ in range(8)
    ]
    others = [sms_event([n], message=text) for n in phone_numbers(6)]  # `default`
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, loop + others)
        await out.wait_for(all_final([e["event_id"] for e in others]))
        await out.wait_for(lambda rs: len(sent(rs, loop)) == 5)
        await eventually(lambda: held_for(relay, "parcels", "blast_radius") == 1)
        await asyncio.sleep(1.0)
        assert len(sent(out.records, loop)) == 5
        assert len(sent(out.records, others)) == 6  # another account, same text: not held
        assert held_for(relay, "default", "blast_radius") == 0

        lines = await release_hold(settings, "parcels", "blast")
        assert lines == ["released parcels: blast-radius guard lifted for 600 s"]
        records = await out.wait_for(all_final([e["event_id"] for e in loop]))
        assert len(sent(records, loop)) == 8
    assert text not in str(await states(settings))
