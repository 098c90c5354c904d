"""A batch waiting for a connection slot holds no ledger claim (found by tests/chaos).

Before: the slot was taken inside `send`, after the claim, so every queued batch held a
claim; a SIGKILL turned all of them (never sent) into `unknown` (at most once) or resends.
The slot is now the deliverer's (`SendSlots`), taken right before the claim.
"""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from service.clock import SystemClock
from service.contract import REJECTION_REASONS, Contract, ContractLimits
from service.ledger.memory import MemoryLedger
from service.observability.metrics import Metrics
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.gate import SendGate
from service.pipeline.handle import HandlerConfig, RecordHandler
from service.pipeline.lanes import SendSlots
from service.pushr.outcomes import Outcome, ProviderResult
from service.settings import Settings


class BlockingClient:
    def __init__(self) -> None:
        self.started: list[tuple[str, ...]] = []
        self.first_started = asyncio.Event()
        self.release = asyncio.Event()

    async def send_sms(self, *, recipients: tuple[str, ...], **_: Any) -> ProviderResult:
        self.started.append(recipients)
        self.first_started.set()
        await self.release.wait()
        return ProviderResult(
            outcome=Outcome.ACCEPTED, endpoint="send-sms", status_code=201, body={"id": 1}
        )


class Publisher:
    async def event(self, key: str, value: dict[str, Any]) -> asyncio.Future[Any]:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    dead_letter = event


def record(offset: int, event_id: str, number: str) -> Any:
    body = {"event_id": event_id, "message": "hi", "recipients": [number]}
    return SimpleNamespace(
        topic="in", partition=0, offset=offset, value=orjson.dumps(body), timestamp=None
    )


async def test_a_batch_queued_for_a_send_slot_holds_no_claim() -> None:
    clock = SystemClock()
    ledger = MemoryLedger(clock, 3600)
    client = BlockingClient()
    handler = RecordHandler(
        contract=Contract(ContractLimits.from_settings(Settings())),
        deliverer=BatchDeliverer(
            ledger=ledger,
            gate=SendGate(clock, 5.0),
            clock=clock,
            rng=random.Random(1),
            owner="me",
            lease_seconds=30.0,
            retry_base=0.1,
            retry_cap=1.0,
            slots=SendSlots(1),
        ),
        client=client,  # type: ignore[arg-type]
        publisher=Publisher(),  # type: ignore[arg-type]
        metrics=Metrics(CollectorRegistry(), REJECTION_REASONS),
        clock=clock,
        config=HandlerConfig(batch_size=100, default_business=1),
    )
    first = asyncio.create_task(handler(record(0, "evt-a", "0241000001")))
    second = asyncio.create_task(handler(record(1, "evt-b", "0241000002")))
    async with asyncio.timeout(5):
        await client.first_started.wait()
    # Give the second batch every chance to claim: the ledger and the publisher here
    # never block, so the only thing it can wait for is the slot. Loop turns, not time.
    for _ in range(50):
        await asyncio.sleep(0)
    assert not second.done()
    assert len(client.started) == 1
    claims = [await ledger.get(f"{eid}#0/1") for eid in ("evt-a", "evt-b")]
    held = [c is not None for c in claims]
    assert held.count(True) == 1, "only the batch with a slot may hold a claim"
    client.release.set()
    async with asyncio.timeout(5):
        await asyncio.gather(first, second)
    assert len(client.started) == 2
