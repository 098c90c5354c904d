"""Batch plans are deterministic, and a template batch is Push.R's CSV with its units."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from service.contract import Accepted, Contract, ContractLimits
from service.pipeline.plan import plan_batches
from service.settings import Settings

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC).timestamp()


def accepted(event: dict[str, object]) -> Accepted:
    decoded = Contract(ContractLimits.from_settings(Settings())).decode(
        orjson.dumps(event), now=NOW
    )
    assert isinstance(decoded, Accepted), decoded
    return decoded


def test_template_batches_carry_csv_and_units_of_each_rendered_row() -> None:
    long_name = "N" * 150  # pushes its row's message past 160 characters: 2 units
    request = accepted(
        {
            "event_id": "tpl-1",
            "template": "Hi {name}, order {order_id} is ready",
            "rows": [
                {"contact": "0558544343", "name": "Ama", "order_id": "1"},
                {"contact": "0548769324", "name": long_name, "order_id": "2"},
                {"contact": "0241234567", "name": "Kofi", "order_id": "3"},
            ],
            "sender_id": "PYWE",
            "business": 1,
        }
    ).request
    batches = plan_batches(request, batch_size=2)
    assert [b.key for b in batches] == ["tpl-1#0/2", "tpl-1#1/2"]
    assert [b.units for b in batches] == [1 + 2, 1]
    rows = list(csv.DictReader(io.StringIO((batches[0].csv_bytes or b"").decode())))
    assert [r["contact"] for r in rows] == ["233558544343", "233548769324"]
    assert rows[1]["name"] == long_name
    assert plan_batches(request, batch_size=2) == batches
