"""The deliverer's lanes and expiry, on the real in-memory ledger and a scripted provider:
an expired batch is never sent (and `unknown`, not `expired`, when it may have been), every
retry waits holding neither a send slot nor a claim, attempts are counted across turns."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

from service.clock import ManualClock, SteppedClock
from service.ledger.base import BatchState
from service.ledger.memory import MemoryLedger
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.gate import SendGate
from service.pipeline.lanes import LaneHooks, SendSlots, Urgency
from service.pipeline.plan import Batch
from service.pushr.outcomes import Outcome, ProviderResult, SendTurn
from tests.unit.pipeline.test_deliver import BATCH, Provider, make_result, result


def deliverer(
    ledger: Any, clock: Any, *, gate: SendGate | None = None, **kw: Any
) -> BatchDeliverer:
    return BatchDeliverer(
        ledger=ledger,
        gate=gate or SendGate(clock, 60.0),
        clock=clock,
        rng=random.Random(7),
        owner="me",
        lease_seconds=30.0,
        retry_base=0.1,
        retry_cap=2.0,
        **kw,
    )


class Counting(Provider):
    """A provider that counts attempts on from the turn, as the real client does."""

    async def __call__(self, batch: Batch, turn: SendTurn) -> ProviderResult:
        answer = await super().__call__(batch, turn)
        if answer.outcome in (Outcome.BREAKER_OPEN, Outcome.EXPIRED):
            return dataclasses.replace(answer, attempts=turn.attempts_before)
        if turn.on_request:
            turn.on_request()
        return dataclasses.replace(answer, attempts=turn.attempts_before + 1)


async def test_a_batch_that_expires_while_sending_is_paused_is_never_sent() -> None:
    clock = SteppedClock()
    ledger = MemoryLedger(clock, 3600)
    gate = SendGate(clock, 60.0)
    gate.close("insufficient_balance")
    expired: list[str] = []
    provider = Counting(result(Outcome.ACCEPTED, body={"id": 1}))
    d = deliverer(ledger, clock, gate=gate, lane_hooks=LaneHooks(on_expired=expired.append))
    otp = Urgency("critical", clock.now() + 30)
    task = asyncio.create_task(d.deliver(BATCH, "at_most_once", provider, make_result, otp))
    async with asyncio.timeout(5):
        await clock.asleep(30)  # out at its expiry, not at the probe's 60 s
        clock.advance(30)
        done = await task
    assert done.result["outcome"] == "expired"
    assert provider.calls == 0
    assert expired == ["critical"]
    assert await ledger.get(BATCH.key) is None  # nothing kept: the key may still be sent
    assert gate.closed_reasons == {"insufficient_balance"}


async def test_expired_at_the_request_releases_the_claim() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, 3600)
    provider = Counting(result(Outcome.EXPIRED))
    done = await deliverer(ledger, clock).deliver(
        BATCH, "at_most_once", provider, make_result, Urgency("critical", clock.now() + 1)
    )
    assert done.result["outcome"] == "expired"
    assert provider.calls == 1  # it reached the client, which refused to send
    assert await ledger.get(BATCH.key) is None


async def test_expiry_after_an_attempt_that_may_have_gone_is_unknown_not_expired() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, 3600)
    provider = Counting(result(Outcome.AMBIGUOUS, detail="read timeout"), result(Outcome.EXPIRED))
    done = await deliverer(ledger, clock).deliver(
        BATCH, "at_least_once", provider, make_result, Urgency("critical", clock.now() + 1)
    )
    assert done.result["outcome"] == "unknown"
    entry = await ledger.get(BATCH.key)
    assert entry is not None
    assert entry.state is BatchState.UNKNOWN


async def test_a_batch_sent_before_is_replayed_even_when_past_its_expiry() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, 3600)
    await ledger.claim(BATCH.key, "earlier", 30.0)
    await ledger.complete(BATCH.key, "earlier", BatchState.SENT, {"outcome": "sent"})
    provider = Counting()
    done = await deliverer(ledger, clock).deliver(
        BATCH, "at_most_once", provider, make_result, Urgency("critical", clock.now() - 1)
    )
    assert done.replayed
    assert done.result["outcome"] == "sent"  # the truth, not a guess from the clock
    assert provider.calls == 0


async def test_retries_wait_without_a_slot_or_a_claim_and_count_their_attempts() -> None:
    clock = SteppedClock()
    ledger = MemoryLedger(clock, 3600)
    slots = SendSlots(1)
    provider = Counting(
        result(Outcome.RETRY_SAFE, status_code=503),
        result(Outcome.RETRY_SAFE, status_code=429, retry_after=4.0),
        result(Outcome.ACCEPTED, status_code=201, body={"id": 7}),
    )
    d = deliverer(ledger, clock, slots=slots)
    task = asyncio.create_task(d.deliver(BATCH, "at_most_once", provider, make_result))
    async with asyncio.timeout(5):
        for _ in range(2):
            await clock.asleep()  # backing off
            assert slots.free == 1  # no slot held across the backoff
            assert await ledger.get(BATCH.key) is None  # nor a claim
            clock.advance(max(clock.sleeping()))
        done = await task
    assert done.result["outcome"] == "sent"
    assert [turn.attempts_before for turn in provider.turns] == [0, 1, 2]
    assert done.provider is not None
    assert done.provider.attempts == 3


async def test_an_open_breaker_is_waited_out_in_the_gate() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, 3600)
    provider = Counting(
        result(Outcome.BREAKER_OPEN, retry_after=5.0),
        result(Outcome.ACCEPTED, status_code=201, body={"id": 1}),
    )
    done = await deliverer(ledger, clock).deliver(BATCH, "at_most_once", provider, make_result)
    assert done.result["outcome"] == "sent"
    assert clock.slept == [5.0]  # the breaker's open time, no jittered backoff on top


async def test_the_lane_travels_with_every_turn_and_its_waits_are_reported() -> None:
    clock = ManualClock()
    ledger = MemoryLedger(clock, 3600)
    queue: list[int] = []
    waits: list[str] = []
    hooks = LaneHooks(
        on_waiting=lambda _lane, delta: queue.append(delta),
        on_first_request=lambda lane, _seconds: waits.append(lane),
    )
    provider = Counting(
        result(Outcome.RETRY_SAFE, status_code=503),
        result(Outcome.ACCEPTED, status_code=201, body={"id": 1}),
    )
    await deliverer(ledger, clock, lane_hooks=hooks).deliver(
        BATCH, "at_most_once", provider, make_result, Urgency("bulk", None)
    )
    assert [turn.lane for turn in provider.turns] == ["bulk", "bulk"]
    assert sum(queue) == 0
    assert queue.count(1) == 2  # waited twice: first and after the backoff
    assert waits == ["bulk"]  # the first request's wait, once
