"""POST /api/client/sms/custom (multipart: template + CSV) over real HTTP."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.devkit.sandbox import (
    DEMO_PUBLIC_KEY,
    DEMO_SECRET_KEY,
    SMALL_PUBLIC_KEY,
    SMALL_SECRET_KEY,
    RunningSandbox,
)

TEMPLATE = "Hi {name}, your order {order_id} for GHS {amount} is ready for pickup!"
CSV = (
    b"contact,name,order_id,amount\n"
    b"233558544343,John Doe,ORD123,150.00\n"
    b"233548769324,Jane Smith,ORD124,200.00\n"
    b"+233559876543,Bob Johnson,ORD125,75.50\n"
)


def form(**overrides: Any) -> dict[str, Any]:
    fields = {
        "api_key_public": DEMO_PUBLIC_KEY,
        "api_key_secret": DEMO_SECRET_KEY,
        "business": "1",
        "sender_id": "PYWE",
        "template": TEMPLATE,
        "scheduled": "false",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def post(
    client: httpx.Client, sandbox: RunningSandbox, data: dict[str, Any], csv: bytes | None = CSV
) -> httpx.Response:
    files = None if csv is None else {"csv_file": ("orders.csv", csv, "text/csv")}
    return client.post(f"{sandbox.url}/sms/custom", data=data, files=files)


def test_documented_example(client: httpx.Client, sandbox: RunningSandbox) -> None:
    r = post(client, sandbox, form())
    assert (r.status_code, r.json()) == (201, {"recipients_count": 3, "status": "PROCESSING"})
    t = sandbox.traffic
    assert (
        t.sends_for(
            "233558544343", "Hi John Doe, your order ORD123 for GHS 150.00 is ready for pickup!"
        )
        == 1
    )
    assert (
        t.sends_for(
            "233559876543", "Hi Bob Johnson, your order ORD125 for GHS 75.50 is ready for pickup!"
        )
        == 1
    )
    assert t.accepted_sends == 3
    assert sandbox.state.messages.count(1) == 3
    assert sandbox.state.accounts.balance(1) == "999999.91"
    (record,) = t.accepted_requests("custom")
    assert record.message_ids == (1, 2, 3)


def test_scheduled_custom_send(client: httpx.Client, sandbox: RunningSandbox) -> None:
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    r = post(client, sandbox, form(scheduled="true", time_scheduled=later))
    assert r.status_code == 201
    now = sandbox.state.clock.now()
    assert [m.status(now) for m in sandbox.state.messages.page(1, 0, 10)] == ["pending"] * 3


@pytest.mark.parametrize(
    ("overrides", "csv", "status", "expected"),
    [
        ({"api_key_secret": "bad"}, CSV, 401, {"api_key": ["Invalid or inactive API keys."]}),
        (
            {"api_key_public": None, "api_key_secret": None},
            CSV,
            401,
            {"detail": "Authentication credentials were not provided."},
        ),
        ({"business": "999"}, CSV, 404, {"detail": "Not found."}),
        ({"business": "2"}, CSV, 404, {"detail": "Not found."}),  # not the keys' business
        ({"business": None}, CSV, 400, {"business": ["This field is required."]}),
        ({"business": "one"}, CSV, 400, {"business": ["A valid integer is required."]}),
        ({"sender_id": None}, CSV, 400, {"sender_id": ["This field is required."]}),
        (
            {"sender_id": "PENDING1"},
            CSV,
            400,
            {"sender_id": ["Sender ID is not approved for this business."]},
        ),
        ({"template": ""}, CSV, 400, {"template": ["This field may not be blank."]}),
        ({}, None, 400, {"csv_file": ["No file was submitted."]}),
        (
            {"csv_file": "contact\n233558544343"},
            None,
            400,
            {
                "csv_file": [
                    "The submitted data was not a file. Check the encoding type on the form."
                ]
            },
        ),
        ({}, b"", 400, {"csv_file": ["The submitted file is empty."]}),
        (
            {},
            "contact,name,order_id,amount\n233558544343,Kofi,O1,1\n".encode("utf-16"),
            400,
            {"csv_file": ["File must be UTF-8 encoded."]},
        ),
        (
            {},
            b"phone,name,order_id,amount\n233558544343,a,b,c\n",
            400,
            {"csv_file": ["CSV file must include a 'contact' column."]},
        ),
        (
            {},
            b"contact,name\n233558544343,a\n",
            400,
            {"csv_file": ["CSV file is missing columns for template variables: order_id, amount."]},
        ),
        (
            {},
            b"contact,name,order_id,amount\n",
            400,
            {"csv_file": ["CSV file must contain at least one data row."]},
        ),
        (
            {},
            b"contact,name,order_id,amount\n0558544343,a,b,c\n233558544343,a,b,c\n",
            400,
            {"csv_file": ["Row 2: Invalid phone number: 055****343"]},
        ),
        (
            {"scheduled": "true"},
            CSV,
            400,
            {"time_scheduled": ["This field is required when scheduled is true."]},
        ),
        (
            {"scheduled": "true", "time_scheduled": "2020-01-01T00:00:00Z"},
            CSV,
            400,
            {"time_scheduled": ["Scheduled time must be in the future."]},
        ),
    ],
)
def test_documented_errors(
    client: httpx.Client,
    sandbox: RunningSandbox,
    overrides: dict[str, Any],
    csv: bytes | None,
    status: int,
    expected: dict[str, Any],
) -> None:
    r = post(client, sandbox, form(**overrides), csv)
    assert (r.status_code, r.json()) == (status, expected)
    assert sandbox.traffic.accepted_sends == 0


def test_rendered_message_too_long(client: httpx.Client, sandbox: RunningSandbox) -> None:
    csv = b"contact,name,order_id,amount\n233558544343," + b"n" * 500 + b",1,2\n"
    r = post(client, sandbox, form(), csv)
    assert (r.status_code, r.json()) == (
        400,
        {"csv_file": ["Row 2: message longer than 500 characters."]},
    )


def test_insufficient_balance(client: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.set_balance(1, "0.08")  # three rows cost 0.09
    r = post(client, sandbox, form())
    assert (r.status_code, r.json()) == (400, {"detail": "Insufficient balance to send messages."})
    data = form(
        api_key_public=SMALL_PUBLIC_KEY,
        api_key_secret=SMALL_SECRET_KEY,
        business="2",
        sender_id="SMALL",
    )
    assert post(client, sandbox, data).status_code == 201


def test_json_is_an_unsupported_media_type(client: httpx.Client, sandbox: RunningSandbox) -> None:
    r = client.post(f"{sandbox.url}/sms/custom", json=form())
    assert (r.status_code, r.json()) == (
        415,
        {"detail": 'Unsupported media type "application/json" in request.'},
    )
