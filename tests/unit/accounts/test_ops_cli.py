"""`pushr-relay accounts` reads what relays share in Redis; without it, one clear line."""

from __future__ import annotations

import pytest

from service.cli import main
from service.ops.accounts import render


def test_without_the_redis_ledger_the_command_says_why_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUSHR_RELAY_LEDGER_BACKEND", "memory")
    assert main(["accounts"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pushr-relay: configuration error: pushr-relay accounts reads")


def test_the_listing_shows_holds_budgets_and_the_blast_guard() -> None:
    text = render(
        [
            {
                "account": "parcels",
                "held": ["budget_exceeded"],
                "budgets": {"hour units": {"used": 20, "limit": 20, "left": 0, "released": False}},
                "blast_radius": {"recipients": 10000, "minutes": 10},
                "blast_released": False,
            },
            {
                "account": "default",
                "held": [],
                "budgets": {},
                "blast_radius": None,
                "blast_released": True,
            },
        ]
    )
    first, second = text.splitlines()
    assert "held: budget_exceeded" in first
    assert "hour units 20/20 left 0" in first
    assert "blast 10000 in 10 min" in first
    assert second.startswith("default      sending")
    assert "blast off (released)" in second
