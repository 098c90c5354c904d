"""Where an accepted event goes: its account's client, gate (in its deliverer), spend guard
and ledger namespace. One `AccountRoute` per account of the accounts file.

    send(batch) = guard.reserve ─┬─ Booking ─► client.send_* ─► guard.settle
                                 ├─ hold ────► Outcome.HELD (the account's gate closes)
                                 └─ reject ──► Outcome.REJECTED, detail budget_exceeded
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.accounts.guard import Refusal, SpendGuard
from service.contract import SmsRequest
from service.observability.metrics import Metrics
from service.pipeline.deliver import BatchDeliverer
from service.pipeline.plan import Batch
from service.pushr.client import CUSTOM, SEND_SMS, PushrClient
from service.pushr.outcomes import Outcome, ProviderResult, SendTurn


@dataclass(frozen=True, slots=True)
class AccountRoute:
    name: str
    deliverer: BatchDeliverer
    client: PushrClient
    business: int | None  # template sends that name no business
    namespace: str = ""  # prefix of the account's ledger keys ("" for `default`)
    guard: SpendGuard | None = None

    async def send(
        self,
        request: SmsRequest,
        batch: Batch,
        turn: SendTurn,
        metrics: Metrics,
        *,
        scheduled_at: datetime | None,
    ) -> ProviderResult:
        """`scheduled_at`: the event's schedule, or the one consent's quiet hours set."""
        endpoint = CUSTOM if request.kind == "template" else SEND_SMS
        guard = self.guard
        booking = None
        if guard is not None and guard.active:
            text = request.message or request.template or ""
            answer = await guard.reserve(
                units=batch.units,
                recipients=len(batch.recipients),
                sender_id=request.sender_id,
                text=text,
            )
            if isinstance(answer, Refusal):
                action = "hold" if answer.hold else "reject"
                metrics.accounts.spend_refusals.labels(self.name, answer.reason, action).inc()
                outcome = Outcome.HELD if answer.hold else Outcome.REJECTED
                return ProviderResult(outcome, endpoint, detail=answer.reason, attempts=0)
            booking = answer
        result = await self._call(request, batch, turn, scheduled_at)
        if guard is not None and booking is not None and result.outcome is not Outcome.AMBIGUOUS:
            # ambiguous: it may have been charged, so the estimate stays counted
            sent = result.outcome is Outcome.ACCEPTED
            await guard.settle(booking, sent=sent, cost=(result.body or {}).get("cost"))
        return result

    async def _call(
        self, request: SmsRequest, batch: Batch, turn: SendTurn, scheduled_at: datetime | None
    ) -> ProviderResult:
        if request.kind == "template":
            return await self.client.send_custom(
                business=request.business or self.business or 0,
                sender_id=request.sender_id,
                template=request.template or "",
                csv_bytes=batch.csv_bytes or b"",
                scheduled_at=scheduled_at,
                turn=turn,
            )
        return await self.client.send_sms(
            message=request.message or "",
            recipients=batch.recipients,
            sender_id=request.sender_id,
            scheduled_at=scheduled_at,
            turn=turn,
        )
