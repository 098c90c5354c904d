"""The parts of each account, built from its `AccountConfig`: client (its keys and rate
limit, the shared breakers), gate and deliverer, spend guard, ledger namespace, and the
status-list readers. Built, not started: `service.app.run` owns the lifetimes.

The per-account seam: each `AccountParts` carries the account's settings (`core`), client
and deliverer, from which `service.app.run` builds its status poller. Reconciliation runs
with one account only (`one_account`); for several, each account's reconciler needs a view
of the ledger's pending batches limited to its `ledger_namespace`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from service.accounts.guard import SpendGuard
from service.accounts.held import HeldAccounts
from service.accounts.load import AccountConfig
from service.accounts.model import DEFAULT_ACCOUNT, limit_caps
from service.backoff import Backoff
from service.builders import (
    Core,
    build_breakers,
    build_deliverer,
    build_gate,
    build_pushr_client,
    build_send_slots,
)
from service.ledger.base import Ledger, ReconcilingLedger
from service.ledger.budget import MemorySpendStore, RedisSpendStore, SpendStore
from service.observability.logging import get_logger
from service.pipeline.route import AccountRoute
from service.pushr.client import PushrClient
from service.status.tracking import StatusTracker

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AccountParts:
    config: AccountConfig
    core: Core  # the process's, with this account's settings
    route: AccountRoute

    @property
    def client(self) -> PushrClient:
        return self.route.client


def ledger_namespace(account: str) -> str:
    """The front of an account's batch keys: none for `default` (its keys stay as they
    were), else the name and a space, which no event id or idempotency key contains."""
    return "" if account == DEFAULT_ACCOUNT else f"{account} "


def one_account(configs: list[AccountConfig]) -> bool:
    """Reconciliation judges every pending batch of the ledger against one account's
    message list; with several accounts it would judge one account's batches by another's
    list, so it stays off (ambiguous batches are reported `unknown`, as without it)."""
    if len(configs) == 1:
        return True
    if configs[0].settings.reconcile:
        log.warning("reconciliation_off", reason="several accounts share the ledger")
    return False


def spend_store(core: Core, redis: aioredis.Redis | None) -> SpendStore:
    """Shared by every replica in Redis (beside the ledger); else this process's."""
    return RedisSpendStore(redis) if redis is not None else MemorySpendStore(core.clock)


def build_accounts(
    core: Core,
    configs: list[AccountConfig],
    *,
    http: httpx.AsyncClient,
    ledger: Ledger,
    rate_redis: aioredis.Redis | None,
    store: SpendStore,
    held: HeldAccounts,
    reconciling: ReconcilingLedger | None = None,
) -> dict[str, AccountParts]:
    """`reconciling`: hand ambiguous batches to the reconciler (one account only, see
    `one_account`)."""
    breakers = build_breakers(core)
    slots = build_send_slots(core.settings)  # connections to Push.R: shared by the accounts
    may_park = len(configs) > 1
    metrics = core.metrics.accounts
    prefix = core.settings.ledger_key_prefix
    limits: dict[tuple[str, str, str], int] = {}
    parts: dict[str, AccountParts] = {}
    for config in configs:
        account_core = dataclasses.replace(core, settings=config.settings)
        settings = config.settings
        rate = rate_redis if settings.rate_limit_rps > 0 else None
        client = build_pushr_client(account_core, http, rate, breakers=breakers)
        gate = build_gate(account_core, held, config.name, may_park=may_park)
        guard = SpendGuard(
            config,
            store=store,
            clock=core.clock,
            prefix=prefix,
            backoff=Backoff(settings.retry_backoff_base, settings.retry_backoff_cap, core.rng),
            on_usage=lambda account, window, measure, used, _limit: metrics.budget_used.labels(
                account, window, measure
            ).set(used),
        )
        for window, limit in config.budgets.limits().items():
            for measure, value in limit_caps(limit).items():
                limits[(config.name, window, measure)] = value
        route = AccountRoute(
            name=config.name,
            deliverer=build_deliverer(account_core, ledger, reconciling, gate=gate, slots=slots),
            client=client,
            business=settings.pushr_business_id,
            namespace=ledger_namespace(config.name),
            guard=guard if guard.active else None,
        )
        parts[config.name] = AccountParts(config, account_core, route)
    metrics.init_accounts([c.name for c in configs], limits)
    return parts


class AccountTrackers:
    """Routes each sent result to its account's tracked-message store, by the ledger
    namespace at the front of its batch key."""

    def __init__(self, trackers: dict[str, StatusTracker]) -> None:
        self._trackers = trackers

    async def track_result(self, result: dict[str, Any]) -> None:
        key = str(result.get("batch_key") or "")
        account, space, _ = key.partition(" ")
        tracker = self._trackers.get(account if space else DEFAULT_ACCOUNT)
        if tracker is not None:
            await tracker.track_result(result)
