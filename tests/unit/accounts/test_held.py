"""Which accounts are held: each its own series, `sending_paused` for any of them, and
readiness lost only when Push.R refuses every account's keys."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from service.accounts.held import HeldAccounts
from service.clock import ManualClock
from service.observability.health import Health
from service.observability.metrics import Metrics
from tests.fixtures.metrics import sample_value


def held(names: list[str]) -> tuple[HeldAccounts, Health, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.accounts.init_accounts(names, {})
    clock = ManualClock()
    health = Health(clock=clock, stall_seconds=60)
    return HeldAccounts(names, metrics, health, clock), health, registry


def test_one_accounts_refused_keys_leave_the_replica_ready() -> None:
    accounts, health, registry = held(["default", "parcels"])
    accounts.change("parcels", "credentials_rejected", True)
    assert health.credentials_ok
    assert accounts.detail() == {"parcels": ["credentials_rejected"]}
    labels = {"account": "parcels", "reason": "credentials_rejected"}
    assert sample_value(registry, "pushr_relay_account_held", labels) == 1
    assert (
        sample_value(registry, "pushr_relay_sending_paused", {"reason": "credentials_rejected"})
        == 1
    )
    accounts.change("default", "credentials_rejected", True)
    assert not health.credentials_ok
    accounts.change("parcels", "credentials_rejected", False)
    assert health.credentials_ok
    assert (
        sample_value(registry, "pushr_relay_sending_paused", {"reason": "credentials_rejected"})
        == 1
    )  # default is still paused


def test_a_single_account_behaves_as_before() -> None:
    accounts, health, registry = held(["default"])
    accounts.change("default", "credentials_rejected", True)
    assert not health.credentials_ok
    accounts.change("default", "insufficient_balance", True)
    accounts.change("default", "insufficient_balance", False)
    assert (
        sample_value(registry, "pushr_relay_sending_paused", {"reason": "insufficient_balance"})
        == 0
    )
    accounts.change("default", "credentials_rejected", False)
    assert health.credentials_ok
    assert accounts.detail() == {}
