"""The spend and blast-radius guards of one account: what a batch may spend, before it is sent.

    reserve(batch) ─┬─ fits every limit ─► Booking (the estimate is counted) ─► send
                    │                           └─► settle: + (cost returned - estimate),
                    │                               or the whole estimate back if not sent
                    ├─ over a budget, policy hold ──► Hold("budget_exceeded")
                    ├─ over a budget, policy reject ► Reject("budget_exceeded")
                    └─ same text to too many ───────► Hold("blast_radius")

Budgets count SMS units and GHS (in micro-cedis, integers) per hour and per day, for the
account and optionally per sender id; windows are UTC hours and days on the injected
clock. The blast-radius guard counts recipients per hash of the text (never the text) over
a sliding window of whole minutes. Keys (under the ledger's prefix) are named here, so the
operator commands read and release the same ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from service.accounts.load import AccountConfig
from service.accounts.model import WINDOW_SECONDS, Limit
from service.backoff import Backoff
from service.clock import Clock
from service.ledger.base import LedgerError
from service.ledger.budget import Check, Reservation, SpendStore
from service.observability.logging import get_logger

log = get_logger(__name__)

BUDGET_EXCEEDED: Final = "budget_exceeded"
BLAST_RADIUS: Final = "blast_radius"
MICRO: Final = 1_000_000
MEASURES: Final = {"units": "units", "ghs": "micro_ghs"}

# (account, window, measure, used, limit) for the account-wide budgets
UsageHook = Callable[[str, str, str, int, int], None]


def bucket(window: str, now: float) -> int:
    return int(now // WINDOW_SECONDS[window])


def spend_key(prefix: str, account: str, scope: str, window: str, index: int) -> str:
    return f"{prefix}spend:{account}:{scope}:{window}:{index}"


def release_key(prefix: str, account: str, window: str, index: int) -> str:
    return f"{prefix}spend:{account}:release:{window}:{index}"


def blast_release_key(prefix: str, account: str) -> str:
    return f"{prefix}blast:{account}:release"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def to_micro(cost: Any) -> int | None:
    try:
        return int(Decimal(str(cost)) * MICRO)
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Booking:
    counters: tuple[tuple[str, str, int, int], ...]  # (key, field, amount, ttl) reserved
    ghs_counters: tuple[tuple[str, int], ...]  # (key, ttl) of the GHS budgets
    estimate_micro: int


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # BUDGET_EXCEEDED | BLAST_RADIUS
    hold: bool  # False: reject the batch (policy `reject`)
    window: str  # "hour" | "day" | "blast"


@dataclass(frozen=True, slots=True)
class _Labelled:
    check: Check
    window: str
    measure: str | None  # set for account-wide budgets (exported as metrics)
    reason: str


class SpendGuard:
    def __init__(
        self,
        account: AccountConfig,
        *,
        store: SpendStore,
        clock: Clock,
        prefix: str,
        backoff: Backoff,
        on_usage: UsageHook | None = None,
    ) -> None:
        self._backoff = backoff
        self._account = account
        self._store = store
        self._clock = clock
        self._prefix = prefix
        self._on_usage = on_usage
        self.active = bool(account.blast or _all_limits(account))

    async def reserve(
        self, *, units: int, recipients: int, sender_id: str | None, text: str
    ) -> Booking | Refusal:
        if not self.active:
            return Booking((), (), 0)
        price = self._account.unit_price_ghs
        estimate = int(units * price * MICRO) if price is not None else 0
        checks = self._budget_checks(units, estimate, sender_id)
        checks += self._blast_checks(recipients, text)
        found = await self._reserve([c.check for c in checks])
        for labelled, used in zip(checks, found.used, strict=False):
            if labelled.measure is not None and self._on_usage is not None:
                self._on_usage(
                    self._account.name,
                    labelled.window,
                    labelled.measure,
                    used,
                    labelled.check.limit,
                )
        if found.failed is not None:
            failed = checks[found.failed]
            hold = failed.reason == BLAST_RADIUS or self._account.budgets.policy == "hold"
            return Refusal(failed.reason, hold, failed.window)
        counters = tuple(
            (c.check.counter, c.check.field, c.check.amount, c.check.ttl) for c in checks
        )
        ghs = tuple(
            (c.check.counter, c.check.ttl) for c in checks if c.check.field == MEASURES["ghs"]
        )
        return Booking(counters, ghs, estimate)

    async def settle(self, booking: Booking, *, sent: bool, cost: Any = None) -> None:
        """`sent`: Push.R took the batch (count its returned cost instead of the estimate);
        otherwise nothing was spent and the reservation goes back whole. A failure here is
        logged, never raised: the batch's fate is already decided."""
        if not booking.counters:
            return
        if not sent:
            back = [(k, f, -amount, ttl) for k, f, amount, ttl in booking.counters]
        else:
            actual = to_micro(cost)
            if actual is None or actual == booking.estimate_micro or not booking.ghs_counters:
                return
            delta = actual - booking.estimate_micro
            back = [(k, MEASURES["ghs"], delta, ttl) for k, ttl in booking.ghs_counters]
        try:
            await self._store.adjust(back)
        except LedgerError:
            log.warning("spend_settle_failed", account=self._account.name)

    async def _reserve(self, checks: list[Check]) -> Reservation:
        """Until the counters answer: no batch of a guarded account goes out unchecked."""
        failures = 0
        while True:
            try:
                return await self._store.reserve(checks)
            except LedgerError:
                if failures == 0:
                    log.warning("spend_counters_unavailable", account=self._account.name)
                await self._clock.sleep(self._backoff.delay(failures))
                failures += 1

    # --- the limits ------------------------------------------------------------------------
    def _budget_checks(self, units: int, micro: int, sender_id: str | None) -> list[_Labelled]:
        name, now, budgets = self._account.name, self._clock.now(), self._account.budgets
        scopes: list[tuple[str, dict[str, Limit]]] = [("all", budgets.limits())]
        if sender_id is not None and sender_id in budgets.senders:
            scopes.append((f"sender={sender_id}", budgets.senders[sender_id].limits()))
        checks = []
        for scope, limits in scopes:
            for window, limit in limits.items():
                index = bucket(window, now)
                ttl = int((index + 1) * WINDOW_SECONDS[window] - now) + 60
                counter = spend_key(self._prefix, name, scope, window, index)
                release = release_key(self._prefix, name, window, index)
                amounts = {"units": (limit.units, units), "ghs": (_micro(limit.ghs), micro)}
                for measure, (cap, amount) in amounts.items():
                    if cap is None:
                        continue
                    check = Check(counter, MEASURES[measure], cap, amount, ttl, release)
                    shown = measure if scope == "all" else None
                    checks.append(_Labelled(check, window, shown, BUDGET_EXCEEDED))
        return checks

    def _blast_checks(self, recipients: int, text: str) -> list[_Labelled]:
        blast = self._account.blast
        if blast is None:
            return []
        minute = int(self._clock.now() // 60)
        base = f"{self._prefix}blast:{self._account.name}:{text_hash(text)}"
        summed = tuple(f"{base}:{m}" for m in range(minute - blast.minutes + 1, minute))
        check = Check(
            f"{base}:{minute}",
            "recipients",
            blast.recipients,
            recipients,
            blast.minutes * 60 + 60,
            blast_release_key(self._prefix, self._account.name),
            summed,
        )
        return [_Labelled(check, "blast", None, BLAST_RADIUS)]


def _micro(ghs: Decimal | None) -> int | None:
    return None if ghs is None else int(ghs * MICRO)


def _all_limits(account: AccountConfig) -> list[Limit]:
    budgets = account.budgets
    found = list(budgets.limits().values())
    for sender in budgets.senders.values():
        found += sender.limits().values()
    return found
