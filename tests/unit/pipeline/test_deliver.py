"""The delivery state machine on the real in-memory ledger and a scripted provider."""

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from service.clock import ManualClock
from service.ledger.base import BatchState, LedgerError
from service.ledger.memory import MemoryLedger
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.gate import SendGate
from service.pipeline.plan import Batch
from service.pushr.outcomes import Outcome, ProviderResult, SendTurn
from tests.unit.jitter import TopOfRange

BATCH = Batch(key="evt-1#0/1", index=0, count=1, recipients=("233558544343",))


def result(outcome: Outcome, **kw: Any) -> ProviderResult:
    return ProviderResult(outcome=outcome, endpoint="send-sms", **kw)


class Provider:
    """Answers from a script; counts what was 'sent'."""

    def __init__(self, *answers: ProviderResult) -> None:
        self._answers: Iterator[ProviderResult] = iter(answers)
        self.calls = 0
        self.turns: list[SendTurn] = []

    async def __call__(self, batch: Batch, turn: SendTurn) -> ProviderResult:
        self.calls += 1
        self.turns.append(turn)
        return next(self._answers)


def make_result(
    batch: Batch, outcome: str, provider: ProviderResult | None, detail: str
) -> dict[str, Any]:
    return {
        "batch_key": batch.key,
        "outcome": outcome,
        "detail": detail,
        "pushr_message_id": (provider.body or {}).get("id") if provider else None,
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def deliverer(ledger: Any, clock: ManualClock, owner: str = "me", **kw: Any) -> BatchDeliverer:
    return BatchDeliverer(
        ledger=ledger,
        gate=kw.pop("gate", SendGate(clock, 5.0)),
        clock=clock,
        rng=kw.pop("rng", random.Random(7)),
        owner=owner,
        lease_seconds=30.0,
        retry_base=0.1,
        retry_cap=2.0,
        **kw,
    )


async def test_accepted_batch_is_recorded_and_never_sent_again(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    provider = Provider(result(Outcome.ACCEPTED, status_code=201, body={"id": 42}))
    first = await deliverer(ledger, clock).deliver(BATCH, "at_most_once", provider, make_result)
    assert first.result["outcome"] == "sent"
    assert not first.replayed

    again = await deliverer(ledger, clock, owner="other").deliver(
        BATCH, "at_least_once", provider, make_result
    )
    assert again.replayed
    assert again.result["pushr_message_id"] == 42
    assert provider.calls == 1


async def test_retry_safe_answers_release_the_claim_and_try_again(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    provider = Provider(
        result(Outcome.RETRY_SAFE, status_code=503),
        result(Outcome.BREAKER_OPEN),
        result(Outcome.RETRY_SAFE, status_code=429, retry_after=7.0),
        result(Outcome.ACCEPTED, status_code=201, body={"id": 1}),
    )
    done = await deliverer(ledger, clock).deliver(BATCH, "at_most_once", provider, make_result)
    assert done.result["outcome"] == "sent"
    assert provider.calls == 4
    assert 7.0 in clock.slept  # Retry-After honoured as the floor of the wait


async def test_rejected_is_final(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    provider = Provider(result(Outcome.REJECTED, status_code=400, detail="invalid sender id"))
    done = await deliverer(ledger, clock).deliver(BATCH, "at_least_once", provider, make_result)
    assert done.result["outcome"] == "rejected"
    entry = await ledger.get(BATCH.key)
    assert entry is not None
    assert entry.state is BatchState.REJECTED


async def test_ambiguous_at_most_once_is_unknown_and_not_resent(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    unknown: list[str] = []
    provider = Provider(result(Outcome.AMBIGUOUS, detail="read timeout"))
    done = await deliverer(ledger, clock, on_unknown=unknown.append).deliver(
        BATCH, "at_most_once", provider, make_result
    )
    assert done.result["outcome"] == "unknown"
    assert provider.calls == 1
    assert unknown == ["at_most_once"]
    entry = await ledger.get(BATCH.key)
    assert entry is not None
    assert entry.state is BatchState.UNKNOWN


async def test_ambiguous_at_least_once_resends(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    unknown: list[str] = []
    provider = Provider(result(Outcome.AMBIGUOUS), result(Outcome.ACCEPTED, body={"id": 9}))
    done = await deliverer(ledger, clock, on_unknown=unknown.append).deliver(
        BATCH, "at_least_once", provider, make_result
    )
    assert done.result["outcome"] == "sent"
    assert provider.calls == 2
    # counted under its own mode: the metric's `delivery` label must not lie
    assert unknown == ["at_least_once"]


async def test_expired_claim_of_a_dead_owner_follows_the_delivery_mode(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    await ledger.claim(BATCH.key, "dead-pod", 30.0)  # died mid-call: never completes
    clock.advance(31)

    cautious = Provider()
    done = await deliverer(ledger, clock).deliver(BATCH, "at_most_once", cautious, make_result)
    assert done.result["outcome"] == "unknown"
    assert cautious.calls == 0

    other = MemoryLedger(clock, 3600)
    await other.claim(BATCH.key, "dead-pod", 30.0)
    clock.advance(31)
    eager = Provider(result(Outcome.ACCEPTED, body={"id": 3}))
    done = await deliverer(other, clock).deliver(BATCH, "at_least_once", eager, make_result)
    assert done.result["outcome"] == "sent"
    assert eager.calls == 1


async def test_a_live_claim_elsewhere_is_waited_for(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    await ledger.claim(BATCH.key, "peer", 30.0)
    provider = Provider()
    task = asyncio.create_task(
        deliverer(ledger, clock).deliver(BATCH, "at_most_once", provider, make_result)
    )
    for _ in range(5):
        await asyncio.sleep(0)
    await ledger.complete(
        BATCH.key, "peer", BatchState.SENT, {"outcome": "sent", "batch_key": BATCH.key}
    )
    done = await asyncio.wait_for(task, 5)
    assert done.replayed
    assert provider.calls == 0


async def test_insufficient_balance_closes_the_gate_until_a_probe_succeeds(
    clock: ManualClock,
) -> None:
    ledger = MemoryLedger(clock, 3600)
    gate = SendGate(clock, 15.0)
    provider = Provider(
        result(Outcome.INSUFFICIENT_BALANCE, status_code=400),
        result(Outcome.INSUFFICIENT_BALANCE, status_code=400),
        result(Outcome.ACCEPTED, body={"id": 5}),
    )
    done = await deliverer(ledger, clock, gate=gate).deliver(
        BATCH, "at_most_once", provider, make_result
    )
    assert done.result["outcome"] == "sent"
    assert clock.slept.count(15.0) == 2  # one probe per recheck interval, no storm
    assert gate.closed_reasons == frozenset()


class FlakyLedger(MemoryLedger):
    def __init__(self, clock: ManualClock, failures: int) -> None:
        super().__init__(clock, 3600)
        self.failures = failures

    async def claim(self, key: str, owner: str, lease_seconds: float) -> Any:
        if self.failures:
            self.failures -= 1
            raise LedgerError("down")
        return await super().claim(key, owner, lease_seconds)


async def test_nothing_is_sent_while_the_ledger_is_down(clock: ManualClock) -> None:
    ledger = FlakyLedger(clock, failures=3)
    errors: list[int] = []
    provider = Provider(result(Outcome.ACCEPTED, body={"id": 1}))
    done = await deliverer(ledger, clock, on_ledger_error=lambda: errors.append(1)).deliver(
        BATCH, "at_most_once", provider, make_result
    )
    assert done.result["outcome"] == "sent"
    assert len(errors) == 3
    assert provider.calls == 1


async def test_waits_follow_the_shared_backoff_from_its_first_step(clock: ManualClock) -> None:
    ledger = FlakyLedger(clock, failures=3)
    provider = Provider(
        result(Outcome.RETRY_SAFE, status_code=503),
        result(Outcome.RETRY_SAFE, status_code=503),
        result(Outcome.ACCEPTED, body={"id": 1}),
    )
    await deliverer(ledger, clock, rng=TopOfRange()).deliver(
        BATCH, "at_most_once", provider, make_result
    )
    # ledger retries 0.1, 0.2, 0.4 (base 0.1), then the provider's deferrals 0.1, 0.2
    assert clock.slept == [0.1, 0.2, 0.4, 0.1, 0.2]


async def test_a_live_claim_is_asked_about_no_sooner_than_a_tenth_of_its_lease(
    clock: ManualClock,
) -> None:
    ledger = MemoryLedger(clock, 3600)
    await ledger.claim(BATCH.key, "peer", 30.0)  # the peer never completes
    provider = Provider(result(Outcome.ACCEPTED, body={"id": 1}))
    async with asyncio.timeout(5):  # each BUSY wait moves the manual clock on
        done = await deliverer(ledger, clock, rng=TopOfRange()).deliver(
            BATCH, "at_least_once", provider, make_result
        )
    assert done.result["outcome"] == "sent"  # the lease lapsed: taken over, then sent
    # jitter tops out at the cap (2.0), below the floor of lease/10: every wait is the floor
    assert len(clock.slept) >= 10
    assert set(clock.slept) == {3.0}


class CountingLedger(MemoryLedger):
    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock, 3600)
        self.renewed: list[str] = []

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        self.renewed.append(key)
        return await super().renew(key, owner, lease_seconds)


async def test_one_renewer_keeps_every_slow_send_claimed_and_stops_when_idle(
    clock: ManualClock,
) -> None:
    ledger = CountingLedger(clock)
    d = deliverer(ledger, clock)
    renewers: set[Any] = set()

    async def slow(batch: Batch, turn: SendTurn) -> ProviderResult:
        for _ in range(12):  # 12 x 5 s: twice the 30 s lease
            renewers.add(d._leases.task)
            await clock.sleep(5)
        return result(Outcome.ACCEPTED, status_code=201, body={"id": 1})

    other = Batch(key="evt-2#0/1", index=0, count=1, recipients=("233558544344",))
    done = await asyncio.gather(
        d.deliver(BATCH, "at_most_once", slow, make_result),
        d.deliver(other, "at_most_once", slow, make_result),
    )
    assert [item.result["outcome"] for item in done] == ["sent", "sent"]
    for key in (BATCH.key, other.key):
        entry = await ledger.get(key)
        assert entry is not None
        assert entry.state is BatchState.SENT
        assert ledger.renewed.count(key) >= 2
    assert len(renewers) == 1
    assert None not in renewers
    assert d._leases.task is None  # nothing in the air: no task left ticking


async def test_owner_ids_differ_per_attempt(clock: ManualClock) -> None:
    ledger = MemoryLedger(clock, 3600)
    d = deliverer(ledger, clock)
    other = Batch(key="evt-2#0/1", index=0, count=1, recipients=("233558544344",))
    ok = result(Outcome.ACCEPTED, status_code=201, body={"id": 1})
    await d.deliver(BATCH, "at_most_once", Provider(ok), make_result)
    await d.deliver(other, "at_most_once", Provider(ok), make_result)
    first, second = await ledger.get(BATCH.key), await ledger.get(other.key)
    assert first is not None
    assert second is not None
    assert first.owner != second.owner
    assert first.owner.startswith("me:")
    assert second.owner.startswith("me:")
