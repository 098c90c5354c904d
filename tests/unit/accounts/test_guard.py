"""The spend and blast-radius guards on the memory counters and a ManualClock."""

from __future__ import annotations

import random
from decimal import Decimal

from service.accounts.guard import (
    BLAST_RADIUS,
    BUDGET_EXCEEDED,
    Booking,
    Refusal,
    SpendGuard,
    blast_release_key,
    bucket,
    release_key,
    spend_key,
)
from service.accounts.load import AccountConfig
from service.accounts.model import BlastRadius, Budgets, Limit, WindowLimits
from service.backoff import Backoff
from service.clock import ManualClock
from service.ledger.budget import MemorySpendStore
from service.settings import Settings

HOUR_START = 1_700_000_000 // 3600 * 3600.0
PREFIX = "t:"


def account(
    budgets: Budgets | None = None,
    blast: BlastRadius | None = None,
    price: str | None = "0.03",
) -> AccountConfig:
    return AccountConfig(
        name="shop",
        settings=Settings.model_construct(),
        sender_ids=frozenset(),
        budgets=budgets or Budgets(),
        blast=blast,
        unit_price_ghs=Decimal(price) if price else None,
    )


def guard(config: AccountConfig, clock: ManualClock) -> tuple[SpendGuard, MemorySpendStore]:
    store = MemorySpendStore(clock)
    backoff = Backoff(0.1, 1.0, random.Random(1))
    return SpendGuard(config, store=store, clock=clock, prefix=PREFIX, backoff=backoff), store


async def send(
    g: SpendGuard, units: int, text: str = "hi", sender: str | None = None
) -> Booking | Refusal:
    return await g.reserve(units=units, recipients=units, sender_id=sender, text=text)


async def test_a_budget_of_n_units_holds_the_batch_that_would_pass_it() -> None:
    clock = ManualClock(HOUR_START + 10)
    g, _ = guard(account(Budgets(hour=Limit(units=10))), clock)
    assert isinstance(await send(g, 6), Booking)
    assert isinstance(await send(g, 4), Booking)
    refused = await send(g, 1)
    assert refused == Refusal(BUDGET_EXCEEDED, hold=True, window="hour")
    clock.advance(3600)  # the next hour's window is empty
    assert isinstance(await send(g, 1), Booking)


async def test_policy_reject_rejects_instead_of_holding() -> None:
    clock = ManualClock(HOUR_START)
    g, _ = guard(account(Budgets(policy="reject", day=Limit(units=1))), clock)
    assert isinstance(await send(g, 1), Booking)
    assert await send(g, 1) == Refusal(BUDGET_EXCEEDED, hold=False, window="day")


async def test_ghs_is_estimated_then_corrected_with_the_returned_cost() -> None:
    clock = ManualClock(HOUR_START)
    g, store = guard(account(Budgets(hour=Limit(ghs=Decimal("1.00")))), clock)
    booking = await send(g, 30)  # 30 units * 0.03 = 0.90 GHS estimated
    assert isinstance(booking, Booking)
    key = spend_key(PREFIX, "shop", "all", "hour", bucket("hour", clock.now()))
    assert await store.read(key) == {"micro_ghs": 900_000}
    await g.settle(booking, sent=True, cost="0.60")  # Push.R charged less
    assert await store.read(key) == {"micro_ghs": 600_000}
    assert isinstance(await send(g, 13), Booking)  # 0.60 + 0.39 fits
    assert isinstance(await send(g, 1), Refusal)  # 0.99 + 0.03 does not


async def test_a_batch_not_sent_gives_its_reservation_back() -> None:
    clock = ManualClock(HOUR_START)
    g, _ = guard(account(Budgets(hour=Limit(units=5))), clock)
    booking = await send(g, 5)
    assert isinstance(booking, Booking)
    await g.settle(booking, sent=False)
    assert isinstance(await send(g, 5), Booking)


async def test_a_sender_budget_applies_to_that_sender_only() -> None:
    clock = ManualClock(HOUR_START)
    budgets = Budgets(senders={"PROMO": WindowLimits(hour=Limit(units=2))})
    g, _ = guard(account(budgets), clock)
    assert isinstance(await send(g, 2, sender="PROMO"), Booking)
    assert isinstance(await send(g, 1, sender="PROMO"), Refusal)
    assert isinstance(await send(g, 50, sender="ALERTS"), Booking)


async def test_a_release_lets_the_account_send_for_the_rest_of_the_window() -> None:
    clock = ManualClock(HOUR_START)
    g, store = guard(account(Budgets(hour=Limit(units=1))), clock)
    await send(g, 1)
    assert isinstance(await send(g, 1), Refusal)
    await store.release(release_key(PREFIX, "shop", "hour", bucket("hour", clock.now())), 3600)
    assert isinstance(await send(g, 1), Booking)


async def test_the_same_text_to_too_many_within_the_window_is_held() -> None:
    clock = ManualClock(HOUR_START)
    g, store = guard(account(blast=BlastRadius(recipients=10, minutes=5)), clock)
    assert isinstance(await send(g, 6, text="Flash sale"), Booking)
    clock.advance(120)
    assert isinstance(await send(g, 4, text="Flash sale"), Booking)
    assert isinstance(await send(g, 100, text="Another text"), Refusal)  # over on its own
    assert await send(g, 1, text="Flash sale") == Refusal(BLAST_RADIUS, hold=True, window="blast")
    clock.advance(181)  # the first 6 slid out of the five minutes
    assert isinstance(await send(g, 6, text="Flash sale"), Booking)
    assert isinstance(await send(g, 1, text="Flash sale"), Refusal)
    await store.release(blast_release_key(PREFIX, "shop"), 300)
    assert isinstance(await send(g, 1, text="Flash sale"), Booking)


async def test_an_unguarded_account_touches_no_counter() -> None:
    g, store = guard(account(), ManualClock())
    assert not g.active
    assert await send(g, 10**6) == Booking((), (), 0)
    assert store._counters == {}
