"""What one delivery of a batch carries across its turns (`Job`), and what it ends with
(`Delivered`); the deliverer (`service.pipeline.deliver`) moves a job through them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from service.contract.events import ResultOutcome
from service.ledger.pending import Signature
from service.pipeline.handoff import Origin, signature_of
from service.pipeline.lanes import LaneWaits, Urgency
from service.pipeline.plan import Batch
from service.pushr.outcomes import ProviderResult, SendTurn

# One attempt at sending a batch (the turn says how); the result event of an outcome.
SendFn = Callable[[Batch, SendTurn], Awaitable[ProviderResult]]
ResultFn = Callable[[Batch, ResultOutcome, ProviderResult | None, str], dict[str, Any]]
# Consent (`service.pipeline.consent`): the planned batch narrowed to the recipients it may
# reach now; same key, index and count. `LedgerError` when its stores do not answer.
ScreenFn = Callable[[], Awaitable[Batch]]


@dataclass(frozen=True, slots=True)
class Delivered:
    result: dict[str, Any]  # the result event (as stored, when replayed)
    replayed: bool  # taken from the ledger, not sent now
    provider: ProviderResult | None  # None when nothing was sent in this attempt


@dataclass(slots=True)
class Job:
    """One delivery of a batch, across its turns."""

    batch: Batch
    delivery: str
    owner: str
    attempt: int
    urgency: Urgency
    send: SendFn
    waits: LaneWaits
    tries: int = 0  # HTTP attempts made so far (the result's `attempts`)
    maybe_sent: bool = False  # an ambiguous attempt or a lapsed owner may have sent it
    origin: Origin | None = None  # set when ambiguous outcomes go to the reconciler
    signature: Signature | None = None
    screen: ScreenFn | None = None

    async def screened(self) -> Batch:
        """The batch to claim now: screened before each claim, so the narrowed batch is
        what is claimed, signed for the reconciler, sent and told."""
        if self.screen is not None:
            self.batch = await self.screen()
            if self.signature is not None:
                self.signature = signature_of(self.origin, self.batch)
        return self.batch
