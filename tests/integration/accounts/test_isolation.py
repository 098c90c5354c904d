"""Several accounts in one relay, on the real broker and the sandbox over HTTP: one
account's empty balance or revoked key holds only that account's events; they wait,
uncommitted, in the partition they share with the account that goes on sending, and
are sent once each when the account is fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    RunningRelay,
    TopicReader,
    all_final,
    committed_offsets,
    eventually,
    final_state,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.integration


def accounts_file(tmp_path: Path, accounts: dict[str, Any]) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": accounts}), encoding="utf-8")
    return path


SMALL = {
    "api_key_public": SMALL_PUBLIC_KEY,
    "api_key_secret": SMALL_SECRET_KEY,
    "business_id": SMALL_BUSINESS_ID,
    "sender_ids": ["SMALL"],
}
PARCELS = {
    "api_key_public": PARCELS_PUBLIC_KEY,
    "api_key_secret": PARCELS_SECRET_KEY,
    "business_id": PARCELS_BUSINESS_ID,
    "sender_ids": ["PARCELS"],
}


def held_for(relay: RunningRelay, account: str, reason: str) -> float:
    return relay.metric("pushr_relay_account_held", {"account": account, "reason": reason})


def set_active(sandbox: Any, business: int, active: bool) -> None:
    def change() -> None:
        sandbox.state.accounts.require(business).active = active

    sandbox.call(change)


async def test_an_empty_balance_and_a_revoked_key_hold_only_their_own_accounts(
    kafka_bootstrap, topic_factory, sandbox, tmp_path
) -> None:
    topics = await make_topics(topic_factory)  # one partition: every account shares it
    sandbox.set_balance(SMALL_BUSINESS_ID, "0")
    set_active(sandbox, PARCELS_BUSINESS_ID, False)
    path = accounts_file(tmp_path, {"small": SMALL, "parcels": PARCELS})
    # four in flight per partition: without parking, the held events would fill them and
    # stop the partition for every account
    settings = relay_settings(
        kafka_bootstrap, sandbox, topics, accounts_file=path, max_in_flight_per_partition=4
    )

    numbers = phone_numbers(30)
    held: list[dict[str, Any]] = []
    flowing: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(10):
        small = sms_event([numbers[i]], account="small", sender_id="SMALL")
        parcels = sms_event([numbers[10 + i]], account="parcels", sender_id="PARCELS")
        demo = sms_event([numbers[20 + i]])  # the `default` account (the env's keys)
        held += [small, parcels]
        flowing.append(demo)
        events += [small, parcels, demo]
    held_ids = [e["event_id"] for e in held]

    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, events, concurrent=True)
        records = await out.wait_for(all_final([e["event_id"] for e in flowing]))
        assert {final_state(records, e["event_id"]) for e in flowing} == {"sent"}
        # the held accounts' events were accepted and wait: no final status, no send
        assert all(final_state(records, i) is None for i in held_ids)
        assert len(of_type(records, "status")) >= len(events)  # every event: `accepted`
        sent_by = {r.business for r in sandbox.traffic.accepted_requests("send-sms")}
        assert sent_by == {1}
        assert held_for(relay, "small", "insufficient_balance") == 1
        assert held_for(relay, "parcels", "credentials_rejected") == 1
        assert held_for(relay, "default", "credentials_rejected") == 0
        # the default account can still send, so the replica stays ready
        assert relay.metric("pushr_relay_sending_paused", {"reason": "credentials_rejected"}) == 1
        # nothing is committed past the first held event (offset 0)
        # the held events wait aside (parked), not in the partition's four in-flight slots
        assert relay.metric("pushr_relay_events_parked") == len(held)
        # nothing is committed past the first held event (offset 0)
        committed = await committed_offsets(kafka_bootstrap, settings.group_id)
        assert committed.get((topics.inbound, 0), -1) <= 0

        sandbox.top_up(SMALL_BUSINESS_ID, "100")
        set_active(sandbox, PARCELS_BUSINESS_ID, True)
        records = await out.wait_for(all_final([e["event_id"] for e in events]))
        assert {final_state(records, i) for i in held_ids} == {"sent"}

        async def committed_to_the_end() -> bool:
            found = await committed_offsets(kafka_bootstrap, settings.group_id)
            return found.get((topics.inbound, 0)) == len(events)

        await eventually(committed_to_the_end, within=30)
        assert held_for(relay, "small", "insufficient_balance") == 0

    for number in numbers:
        assert sandbox.traffic.sends_for("233" + number.removeprefix("0")) == 1
    assert sandbox.traffic.duplicate_sends() == []
