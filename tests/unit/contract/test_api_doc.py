"""The example requests of Push.R's API documentation, as the relay's events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from service.contract import Accepted, Contract, ContractLimits, Rejection
from service.contract.normalise import render

# the `created` time of the documentation's examples
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC).timestamp()
CONTRACT = Contract(ContractLimits.defaults())


def decode(event: dict[str, Any]) -> Accepted | Rejection:
    return CONTRACT.decode(orjson.dumps(event), now=NOW)


@pytest.mark.parametrize(
    ("message", "recipients", "sender_id"),
    [
        ("Hello! This is a test message.", ["233558544343", "233548769324"], "PYWE"),
        ("Hello from Python! This is a test message.", ["233558544343", "233548769324"], "PYWE"),
        ("Hello from JavaScript!", ["233558544343"], "PYWE"),
        ("Hello from Node.js!", ["233558544343"], "PYWE"),
        ("Hello from PHP!", ["233558544343"], "PYWE"),
        ("Hello from cURL!", ["233558544343"], "PYWE"),
    ],
)
def test_documented_send_sms_bodies(message: str, recipients: list[str], sender_id: str) -> None:
    result = decode(
        {"event_id": "doc", "message": message, "recipients": recipients, "sender_id": sender_id}
    )
    assert isinstance(result, Accepted)
    assert list(result.request.recipients) == recipients
    assert result.request.scheduled_at is None


def test_documented_scheduled_time_format() -> None:
    event = {
        "event_id": "doc",
        "message": "Hello!",
        "recipients": ["233558544343"],
        "scheduled_at": "2024-01-20T14:30:00Z",
    }
    result = decode(event)
    assert isinstance(result, Accepted)
    assert result.request.to_json_dict()["scheduled_at"] == "2024-01-20T14:30:00Z"


def test_documented_phone_formats() -> None:
    # "233558544343 ✓", "+233558544343 ✓ (normalised)"; the relay also normalises the
    # "wrong" 0558544343 instead of passing it to Push.R.
    for raw in ["233558544343", "+233558544343", "0558544343"]:
        result = decode({"event_id": "doc", "message": "Hi", "recipients": [raw]})
        assert isinstance(result, Accepted)
        assert result.request.recipients == ("233558544343",)


def test_documented_cost_example() -> None:
    # "A 320-character message to 10 recipients = 2 SMS units x 10 recipients = 20 units"
    recipients = [f"0558544{n:03d}" for n in range(340, 350)]
    result = decode({"event_id": "doc", "message": "x" * 320, "recipients": recipients})
    assert isinstance(result, Accepted)
    assert result.estimate.provider_units == 20


def test_documented_limits() -> None:
    too_long = decode({"event_id": "d", "message": "x" * 501, "recipients": ["233558544343"]})
    assert isinstance(too_long, Rejection)
    assert too_long.reason == "invalid_message"
    sender = decode(
        {"event_id": "d", "message": "x", "recipients": ["233558544343"], "sender_id": "X" * 12}
    )
    assert isinstance(sender, Rejection)
    assert sender.reason == "invalid_sender_id"


def test_documented_csv_template_renders_the_documented_messages() -> None:
    template = "Hi {name}, your order {order_id} for GHS {amount} is ready for pickup!"
    rows = [
        {"contact": "233558544343", "name": "John Doe", "order_id": "ORD123", "amount": "150.00"},
        {"contact": "233548769324", "name": "Jane Smith", "order_id": "ORD124", "amount": "200.00"},
        {"contact": "233559876543", "name": "Bob Johnson", "order_id": "ORD125", "amount": "75.50"},
    ]
    result = decode(
        {"event_id": "doc", "template": template, "rows": rows, "sender_id": "PYWE", "business": 1}
    )
    assert isinstance(result, Accepted)
    assert [render(template, row) for row in result.request.rows] == [
        "Hi John Doe, your order ORD123 for GHS 150.00 is ready for pickup!",
        "Hi Jane Smith, your order ORD124 for GHS 200.00 is ready for pickup!",
        "Hi Bob Johnson, your order ORD125 for GHS 75.50 is ready for pickup!",
    ]
    assert result.request.recipients == ("233558544343", "233548769324", "233559876543")


def test_documented_csv_rules() -> None:
    # a contact column, every variable a column, at least one data row
    no_contact = decode(
        {"event_id": "d", "template": "Hi {name}", "sender_id": "P", "rows": [{"name": "A"}]}
    )
    assert isinstance(no_contact, Rejection)
    assert (no_contact.errors[0].path, no_contact.errors[0].code) == ("/rows/0/contact", "required")
    no_rows = decode({"event_id": "d", "template": "Hi {name}", "sender_id": "P", "rows": []})
    assert isinstance(no_rows, Rejection)
    assert no_rows.reason == "template_invalid"
