"""Consent at send time: which of a batch's recipients it may reach, and when.

Run after the batch's ledger claim and before each attempt of its request, so an opt-out
the store held before the claim is always honoured, and one read while a batch waited for
a retry is honoured by the next attempt. Filtering here, inside a planned batch, and not
before planning, is what keeps "never a second SMS for one batch": the plan (and so every
batch key) depends only on the normalised event, so a redelivery meets the same keys and
the ledger replays what was done, whatever the list said in between. Filtering before
planning would change the keys when the list changes between deliveries, and a batch
already sent under its old key would be sent again under a new one.

- opt-outs: scope `all` drops the recipient from every message, `bulk` from `bulk` ones;
- the frequency cap (`bulk` only): a place per recipient per batch in a rolling 24 h,
  taken under the batch's key, so a retry or a redelivery never takes a second one;
- quiet hours (`bulk` only, policy `defer`): a batch whose send time falls in the window
  goes as a Push.R scheduled message for the window's end.
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from service.clock import Clock
from service.contract import SmsRequest
from service.contract.consent import FREQUENCY_CAPPED, OPTED_OUT, blocks, no_recipients_reason
from service.contract.masking import mask_phone
from service.contract.model import RejectedRecipient
from service.contract.normalise import renderer
from service.contract.quiet_hours import QuietHours
from service.ledger.frequency import FrequencyCap
from service.ledger.optouts import OptOutStore
from service.observability.metrics import Metrics
from service.pipeline.plan import Batch, units_of
from service.pushr.outcomes import Outcome, ProviderResult

QuietPolicy = Literal["defer", "hold"]


@dataclass(frozen=True, slots=True)
class ConsentRules:
    optouts: OptOutStore | None = None
    cap: FrequencyCap | None = None
    quiet: QuietHours | None = None
    quiet_policy: QuietPolicy = "defer"
    # set once the opt-out list was read to its end: no batch is screened before that
    optouts_read: asyncio.Event | None = None

    @property
    def active(self) -> bool:
        return self.optouts is not None or self.cap is not None or self.quiet is not None


@dataclass(frozen=True, slots=True)
class Screened:
    batch: Batch  # the planned batch with only the recipients it may reach
    dropped: tuple[RejectedRecipient, ...]
    scheduled_at: datetime | None  # the request's, or the end of quiet hours (deferred)
    deferred: bool = False


class ConsentScreen:
    def __init__(self, rules: ConsentRules, clock: Clock, metrics: Metrics, batch_size: int):
        self._rules = rules
        self._clock = clock
        self._metrics = metrics
        self._batch_size = batch_size

    @property
    def active(self) -> bool:
        return self._rules.active

    def for_batch(self, request: SmsRequest, priority: str, batch: Batch) -> BatchConsent:
        return BatchConsent(self, request, priority, batch)

    async def hold(self, priority: str) -> None:
        """Policy `hold`: a `bulk` event waits (uncommitted) until the quiet hours end."""
        quiet = self._rules.quiet
        if quiet is None or self._rules.quiet_policy != "hold" or priority != "bulk":
            return
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        allowed = quiet.next_allowed(now)
        if allowed > now:
            self._metrics.quiet_hours_held.inc()
            await self._clock.sleep((allowed - now).total_seconds())

    async def screen(self, request: SmsRequest, priority: str, batch: Batch) -> Screened:
        """`LedgerError` when a store does not answer: the caller sends nothing then."""
        read = self._rules.optouts_read
        if read is not None and not read.is_set():
            await read.wait()
        numbers = batch.recipients
        blocked: set[str] = set()
        if self._rules.optouts is not None:
            scopes = await self._rules.optouts.scopes(sorted(set(numbers)))
            blocked = {n for n, scope in scopes.items() if blocks(scope, priority)}
        capped: set[str] = set()
        if self._rules.cap is not None and priority == "bulk":
            allowed = sorted({n for n in numbers if n not in blocked})
            capped = await self._rules.cap.reserve(allowed, batch.key, self._clock.now())
        dropped = tuple(self._dropped(request, batch, blocked, capped))
        for item in dropped:
            self._metrics.recipients_dropped.labels(item.reason).inc()
        narrowed = batch if not dropped else narrow(request, batch, blocked | capped)
        scheduled_at, deferred = self._send_time(request, priority)
        return Screened(narrowed, dropped, scheduled_at, deferred)

    def count_deferred(self) -> None:
        self._metrics.quiet_hours_deferred.inc()

    def _dropped(
        self, request: SmsRequest, batch: Batch, blocked: set[str], capped: set[str]
    ) -> list[RejectedRecipient]:
        found = []
        first = batch.index * self._batch_size
        for i, number in enumerate(batch.recipients):
            reason = (
                OPTED_OUT if number in blocked else FREQUENCY_CAPPED if number in capped else ""
            )
            if reason:
                where = f"/rows/{first + i}/contact" if request.kind == "template" else None
                path = where or f"/recipients/{first + i}"
                found.append(RejectedRecipient(path, mask_phone(number), reason))
        return found

    def _send_time(self, request: SmsRequest, priority: str) -> tuple[datetime | None, bool]:
        quiet = self._rules.quiet
        if quiet is None or self._rules.quiet_policy != "defer" or priority != "bulk":
            return request.scheduled_at, False
        at = request.scheduled_at or datetime.fromtimestamp(self._clock.now(), UTC)
        allowed = quiet.next_allowed(at)
        if allowed == at.astimezone(UTC):
            return request.scheduled_at, False
        return allowed, True


class BatchConsent:
    """One planned batch's consent: screened before each claim (`await consent()`), then
    read by its request (`scheduled_at`, `nothing_to_send`) and its result (`batch`,
    `dropped`)."""

    def __init__(
        self, screen: ConsentScreen, request: SmsRequest, priority: str, planned: Batch
    ) -> None:
        self._screen = screen
        self._request = request
        self._priority = priority
        self._planned = planned
        self._last: Screened | None = None
        self._deferred_counted = False

    async def __call__(self) -> Batch:
        self._last = await self._screen.screen(self._request, self._priority, self._planned)
        if self._last.deferred and not self._deferred_counted:
            self._deferred_counted = True
            self._screen.count_deferred()
        return self._last.batch

    @property
    def batch(self) -> Batch:
        """The batch as last screened (the planned one before the first screen)."""
        return self._planned if self._last is None else self._last.batch

    @property
    def scheduled_at(self) -> datetime | None:
        return self._request.scheduled_at if self._last is None else self._last.scheduled_at

    @property
    def dropped(self) -> tuple[RejectedRecipient, ...]:
        return () if self._last is None else self._last.dropped

    def nothing_to_send(self, endpoint: str) -> ProviderResult | None:
        """A batch left without recipients is refused here, with no request to Push.R."""
        if self._last is None or self._last.batch.recipients:
            return None
        detail = f"no recipient left ({no_recipients_reason(self._last.dropped)})"
        return ProviderResult(Outcome.REJECTED, endpoint, detail=detail, attempts=0)


def narrow(request: SmsRequest, batch: Batch, drop: set[str]) -> Batch:
    """`batch` without the numbers in `drop`: same key, index and count (the plan stands)."""
    recipients = tuple(n for n in batch.recipients if n not in drop)
    if batch.csv_bytes is None:
        units = units_of(request.message or "") * len(recipients)
        return replace(batch, recipients=recipients, units=units)
    rows = list(csv.reader(io.StringIO(batch.csv_bytes.decode("utf-8"))))
    header, body = rows[0], [row for row in rows[1:] if row and row[0] not in drop]
    render = renderer(request.template or "")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([header, *body])
    units = sum(units_of(render(dict(zip(header, row, strict=True)))) for row in body)
    return replace(
        batch, recipients=recipients, units=units, csv_bytes=buffer.getvalue().encode("utf-8")
    )
