"""Sentinel on real servers: the ledger follows a failover, and the no-duplicate guarantee
survives Redis's asynchronous replication because writes wait for a replica (`WAIT`).

The failover tests run their own set-up (master, replicas, one sentinel, quorum 1, a dead
master noticed in a second) and kill its master with SIGKILL; the misconfiguration tests use
the shared TLS set-up and take nothing down.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from service.clock import SystemClock
from service.ledger import Claim, ClaimStatus, LedgerError, RedisLedger
from service.ledger.factory import open_ledger, redis_client
from service.ledger.redis_health import describe
from service.settings import Settings
from tests.fixtures.redis_nodes import ADMIN_USER
from tests.fixtures.redis_secure import SentinelFactory, SentinelSetup
from tests.integration.relay_harness import (
    TopicReader,
    all_final,
    eventually,
    international,
    make_topics,
    of_type,
    phone_numbers,
    produce,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.redis

LONG = 30.0


class Reasons:
    """An `OutageWatch` keeping the reason of each failure."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def failed(self, exc: BaseException) -> None:
        self.seen.append(describe(exc))

    def answered(self) -> None:
        pass


@pytest.fixture
async def ledgers(redis_key_prefix: str) -> AsyncIterator[Any]:
    """`make(setup, replicas)`: a ledger through the set-up's sentinel, as a relay opens it."""
    opened: list[RedisLedger] = []

    def make(
        setup: SentinelSetup, *, replicas: int, **overrides: Any
    ) -> tuple[RedisLedger, Reasons]:
        reasons = Reasons()
        settings = Settings(**setup.settings(redis_wait_replicas=replicas, **overrides))
        ledger = RedisLedger(
            redis_client(settings, client_name="pushr-relay-test"),
            prefix=redis_key_prefix,
            ttl_seconds=3600,
            wait_replicas=replicas,
            outage=reasons,
        )
        opened.append(ledger)
        return ledger, reasons

    yield make
    for ledger in opened:
        await ledger.close()


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        ({"redis_sentinel_password": "not-the-password"}, "the sentinels refused the password"),
        ({"redis_sentinel_master": "no-such-master"}, "no sentinel named a live master"),
        ({"redis_password": "not-the-password"}, "authentication failed: wrong user"),
    ],
)
async def test_sentinel_misconfiguration_is_one_clear_reason(
    redis_sentinel: SentinelSetup, ledgers, wrong: dict[str, str], says: str
) -> None:
    ledger, reasons = ledgers(redis_sentinel, replicas=1, **wrong)
    with pytest.raises(LedgerError):
        await ledger.claim("k", "relay-a", LONG)
    assert await ledger.ping() is False
    assert len(set(reasons.seen)) == 1
    assert says in reasons.seen[0]
    for secret in (redis_sentinel.credentials.sentinel, redis_sentinel.credentials.relay):
        assert secret not in reasons.seen[0]


@pytest.mark.parametrize(("wait", "warned"), [(1, True), (2, False)])
async def test_start_up_warns_when_writes_wait_for_fewer_replicas_than_there_are(
    sentinel_factory: SentinelFactory, redis_key_prefix: str, wait: int, warned: bool
) -> None:
    setup = sentinel_factory(replicas=2)
    settings = Settings(
        ledger_backend="redis",
        ledger_key_prefix=redis_key_prefix,
        **setup.settings(redis_wait_replicas=wait),
    )
    with capture_logs() as logs:
        ledger = await open_ledger(settings, SystemClock())
    await ledger.close()
    warnings = [line for line in logs if line["event"] == "ledger_wait_below_replicas"]
    if warned:
        assert [(w["wait_replicas"], w["replicas"]) for w in warnings] == [(1, 2)]
    else:
        assert warnings == []


def cut_replication(setup: SentinelSetup) -> None:
    """The replica keeps trying, but may no longer sync: what the master writes from now on
    reaches no replica, as in a partition, and is lost if the master dies."""
    master = setup.master()
    with setup.admin(master) as admin:
        admin.acl_setuser(ADMIN_USER, enabled=True, commands=["-psync", "-sync"])
        admin.client_kill_filter(_type="replica", skipme=True)
    setup.wait_until(lambda: _connected_replicas(setup) == 0, "the replica cut off")


def _connected_replicas(setup: SentinelSetup) -> int:
    with setup.admin(setup.master()) as admin:
        return int(admin.info("replication")["connected_slaves"])


async def test_without_wait_a_failover_forgets_a_claim_already_granted(
    sentinel_factory: SentinelFactory, ledgers
) -> None:
    """Why the relay waits for a replica: the hazard itself, on real servers."""
    setup = sentinel_factory(replicas=1)
    ledger, _ = ledgers(setup, replicas=0)
    cut_replication(setup)
    assert (await ledger.claim("k", "relay-a", LONG)).status is ClaimStatus.CLAIMED
    old = setup.master()
    old.stop(kill=True)
    setup.wait_for_new_master(old)
    # relay-a holds the claim and sends; the promoted replica never heard of it, so
    # relay-b (a redelivery after a rebalance, say) is granted it too and sends again
    claim = await first_answer(lambda: ledger.claim("k", "relay-b", LONG))
    assert isinstance(claim, Claim)
    assert claim.status is ClaimStatus.CLAIMED


async def test_with_wait_an_unconfirmed_claim_is_never_granted(
    sentinel_factory: SentinelFactory, ledgers
) -> None:
    setup = sentinel_factory(replicas=1)
    ledger, reasons = ledgers(setup, replicas=1)
    assert (await ledger.claim("warm-up", "relay-a", LONG)).status is ClaimStatus.CLAIMED
    cut_replication(setup)
    # The master applies the claim, no replica confirms it: relay-a is told no, sends nothing.
    with pytest.raises(LedgerError):
        await ledger.claim("k", "relay-a", LONG)
    assert await ledger.ping() is False  # not ready: writes cannot be confirmed
    assert reasons.seen[0].startswith("writes not confirmed by replicas: 0 of 1 replicas")

    old = setup.master()
    old.stop(kill=True)
    promoted = setup.wait_for_new_master(old)
    # The promoted replica is alone: its writes cannot be confirmed either.
    refused = await first_answer(lambda: ledger.claim("k", "relay-b", LONG))
    assert isinstance(refused, LedgerError)
    # The dead node comes back as a replica of the new master, as an orchestrator would
    # restart it; writes are confirmed again.
    old.replica_of = promoted.port
    old.start()
    setup.wait_replicated(promoted, 1)
    claim = await first_answer(lambda: ledger.claim("k", "relay-b", LONG))
    assert isinstance(claim, Claim)
    assert claim.status is ClaimStatus.CLAIMED
    assert claim.entry is not None
    assert claim.entry.owner == "relay-b"
    # relay-a, told no, never sent; the claims confirmed before the failover survived it
    assert (await ledger.claim("k", "relay-a", LONG)).status is ClaimStatus.BUSY
    assert (await ledger.claim("warm-up", "relay-b", LONG)).status is ClaimStatus.BUSY
    assert await ledger.ping()


async def first_answer(call: Callable[[], Awaitable[Claim]], within: float = 20.0) -> Any:
    """The first outcome of `call()` past the failover's own connection errors: its answer,
    or the `LedgerError` that says no replica confirmed the write."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await call()
        except LedgerError as exc:
            if "UnconfirmedWriteError" in str(exc):
                return exc
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.mark.integration
async def test_relay_resumes_after_the_master_is_killed_under_load(
    kafka_bootstrap, topic_factory, sandbox, sentinel_factory: SentinelFactory, redis_key_prefix
) -> None:
    # Two replicas: with one written off, the other still confirms every write, so the
    # relay needs nobody to restart anything to carry on.
    setup = sentinel_factory(replicas=2)
    topics = await make_topics(topic_factory, partitions=2)
    before = [sms_event(phone_numbers(2)) for _ in range(100)]
    during = [sms_event(phone_numbers(2)) for _ in range(100)]
    events = before + during
    ids = [e["event_id"] for e in events]
    sandbox.set_faults({"latency_ms": 50})
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        ledger_backend="redis",
        ledger_key_prefix=f"{redis_key_prefix}ledger:",
        # longer than the failover: a claim made just before it cannot lapse into "unknown"
        ledger_lease_seconds=30.0,
        max_in_flight=8,
        **setup.settings(),
    )
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings) as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, before, concurrent=True)
        await eventually(lambda: sandbox.traffic.accepted_sends >= 40, within=60)
        old = setup.master()
        old.stop(kill=True)
        assert sandbox.traffic.accepted_sends < 2 * len(before), "killed mid-stream"
        producing = asyncio.create_task(
            produce(kafka_bootstrap, topics.inbound, during, concurrent=True)
        )
        await asyncio.to_thread(setup.wait_for_new_master, old)
        await producing
        records = await out.wait_for(all_final(ids), within=120)
        await relay.stop()
        assert relay.metric("pushr_relay_ledger_errors_total") > 0, "the failover was felt"

    assert sandbox.traffic.duplicate_sends() == []
    for event in events:
        for number in event["recipients"]:
            assert sandbox.traffic.sends_for(international(number)) == 1
    finals = Counter(
        (r["event_id"], r["status"])
        for r in of_type(records, "status")
        if r["status"] != "accepted"
    )
    assert set(finals) == {(event_id, "sent") for event_id in ids}
