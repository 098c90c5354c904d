"""Metrics of accounts and their spend guards, a part of `Metrics` (`metrics.accounts`).

The `account` label is the name an operator gave in the accounts file (bounded, chosen, and
never a key); its series are made up front by `init_accounts` when the accounts are known.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from service.observability.metrics_types import Counter, Gauge

HOLD_REASONS = (
    "insufficient_balance",
    "credentials_rejected",
    "budget_exceeded",
    "blast_radius",
)
REFUSALS = ("budget_exceeded", "blast_radius")
WINDOWS = ("hour", "day")
MEASURES = ("units", "micro_ghs")


class AccountMetrics:
    def __init__(self, namespace: str, registry: CollectorRegistry) -> None:
        ns, r = namespace, registry
        self.account_held = Gauge(
            "account_held",
            "1 while the account's sending is held, by reason.",
            ["account", "reason"],
            namespace=ns,
            registry=r,
        )
        self.spend_refusals = Counter(
            "spend_refusals",
            "Batch sends the spend guards held or rejected, by account and reason.",
            ["account", "reason", "action"],
            namespace=ns,
            registry=r,
        )
        self.budget_used = Gauge(
            "budget_used",
            "Spent in the current window (SMS units, or GHS in micro-cedis), as this replica "
            "last saw the shared counter.",
            ["account", "window", "measure"],
            namespace=ns,
            registry=r,
        )
        self.budget_limit = Gauge(
            "budget_limit",
            "The account's budget per window (SMS units, or GHS in micro-cedis).",
            ["account", "window", "measure"],
            namespace=ns,
            registry=r,
        )
        self.events_parked = Gauge(
            "events_parked",
            "Events of held accounts waiting aside, uncommitted.",
            namespace=ns,
            registry=r,
        )

    def init_accounts(self, names: Iterable[str], limits: dict[tuple[str, str, str], int]) -> None:
        """Series for every account up front; `limits` by (account, window, measure)."""
        for name in names:
            for reason in HOLD_REASONS:
                self.account_held.labels(name, reason).set(0)
            for refusal in REFUSALS:
                for action in ("hold", "reject"):
                    self.spend_refusals.labels(name, refusal, action)
        for (name, window, measure), limit in limits.items():
            self.budget_limit.labels(name, window, measure).set(limit)
            self.budget_used.labels(name, window, measure).set(0)
