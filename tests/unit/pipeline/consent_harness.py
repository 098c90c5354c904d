"""The real handler, deliverer, memory ledger and consent screen around a recording
Push.R client and publisher: what consent does to events, without a network."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from service.clock import ManualClock
from service.contract import REJECTION_REASONS, Contract, ContractLimits
from service.contract.quiet_hours import QuietHours
from service.ledger.frequency import MemoryFrequencyCap
from service.ledger.memory import MemoryLedger
from service.ledger.optouts import MemoryOptOutStore, OptOutChange
from service.observability.metrics import Metrics
from service.pipeline.consent import ConsentRules, ConsentScreen, QuietPolicy
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.gate import SendGate
from service.pipeline.handle import HandlerConfig, RecordHandler
from service.pushr.outcomes import Outcome, ProviderResult

ACCRA_2100 = 1_800_046_800.0  # 2027-01-15T21:00:00Z, inside 20:00-08:00 Accra (UTC+0)


@dataclass
class Sent:
    recipients: tuple[str, ...]
    scheduled_at: datetime | None
    message: str = ""


@dataclass
class RecordingClient:
    sent: list[Sent] = field(default_factory=list)

    async def send_sms(
        self,
        *,
        turn: Any = None,
        message: str,
        recipients: tuple[str, ...],
        scheduled_at: datetime | None,
        **_: Any,
    ) -> ProviderResult:
        self.sent.append(Sent(tuple(recipients), scheduled_at, message))
        body = {"id": len(self.sent), "status": "sent", "cost": "0.05"}
        return ProviderResult(Outcome.ACCEPTED, "send-sms", status_code=201, body=body)


@dataclass
class RecordingPublisher:
    events: list[dict[str, Any]] = field(default_factory=list)

    async def event(self, key: str, value: dict[str, Any]) -> asyncio.Future[Any]:
        self.events.append(value)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    dead_letter = event

    def of(self, event_id: str, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_id"] == event_id and e["type"] == kind]


class Relay:
    def __init__(
        self,
        *,
        cap: int = 0,
        quiet: str | None = None,
        policy: QuietPolicy = "defer",
        batch_size: int = 100,
        ledger: MemoryLedger | None = None,
        optouts: MemoryOptOutStore | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self.clock = clock or ManualClock(ACCRA_2100 - 12 * 3600)  # 09:00 Accra
        self.ledger = ledger or MemoryLedger(self.clock, 7 * 24 * 3600)
        self.optouts = optouts or MemoryOptOutStore()
        self.client = RecordingClient()
        self.publisher = RecordingPublisher()
        self.metrics = Metrics(CollectorRegistry(), REJECTION_REASONS)
        self._offset = 0
        rules = ConsentRules(
            self.optouts,
            MemoryFrequencyCap(cap) if cap else None,
            QuietHours.parse(quiet, "Africa/Accra") if quiet else None,
            policy,
        )
        deliverer = BatchDeliverer(
            ledger=self.ledger,
            gate=SendGate(self.clock, 5.0),
            clock=self.clock,
            rng=random.Random(3),
            owner="relay",
            lease_seconds=30.0,
            retry_base=0.1,
            retry_cap=1.0,
        )
        self.handler = RecordHandler(
            contract=Contract(ContractLimits.defaults()),
            deliverer=deliverer,
            client=self.client,  # type: ignore[arg-type]
            publisher=self.publisher,  # type: ignore[arg-type]
            metrics=self.metrics,
            clock=self.clock,
            config=HandlerConfig(batch_size=batch_size, default_business=1),
            consent=ConsentScreen(rules, self.clock, self.metrics, batch_size),
        )

    async def opt_out(self, number: str, scope: str | None = "all") -> None:
        self._offset += 1
        await self.optouts.apply([OptOutChange(number, scope, 0, self._offset)])  # type: ignore[arg-type]

    async def consume(self, event: dict[str, Any], offset: int = 0) -> None:
        record = SimpleNamespace(
            topic="in", partition=0, offset=offset, value=orjson.dumps(event), timestamp=None
        )
        await self.handler(record)

    def final(self, event_id: str) -> dict[str, Any]:
        return self.publisher.of(event_id, "status")[-1]

    def sent_to(self) -> list[str]:
        return [n for s in self.client.sent for n in s.recipients]
