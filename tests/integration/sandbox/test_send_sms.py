"""POST /api/client/sms/send-sms over real HTTP: the success body and every documented error."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.devkit.sandbox import SMALL_PUBLIC_KEY, SMALL_SECRET_KEY, RunningSandbox

Body = Callable[..., dict[str, Any]]
CREATED = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


def post(client: httpx.Client, sandbox: RunningSandbox, body: Any) -> httpx.Response:
    return client.post(f"{sandbox.url}/sms/send-sms", json=body)


def test_success_has_the_documented_body(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    r = post(client, sandbox, demo_send_body())
    assert r.status_code == 201
    body = r.json()
    assert list(body) == [
        "id",
        "business",
        "message",
        "status",
        "created",
        "cost",
        "sender_id",
        "recipients_count",
    ]
    assert body["id"] == 1
    assert body["business"] == 1
    assert body["message"] == "Hello! This is a test message."
    assert body["status"] == "sent"
    assert body["cost"] == "0.06"
    assert body["sender_id"] == "PYWE"
    assert body["recipients_count"] == 2
    datetime.strptime(body["created"], "%Y-%m-%dT%H:%M:%SZ")  # the format
    assert sandbox.state.accounts.balance(1) == "999999.94"


def test_cost_plus_normalisation_and_default_sender(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    recipients = [f"+2335585443{i:02d}" for i in range(10)]
    r = post(
        client, sandbox, demo_send_body(message="x" * 320, recipients=recipients, sender_id=None)
    )
    assert r.status_code == 201
    assert r.json()["cost"] == "0.60"  # 2 units x 10 recipients x 0.03
    assert r.json()["sender_id"] == "PYWE"  # first approved
    assert sandbox.traffic.sends_for("233558544300") == 1
    r = post(client, sandbox, demo_send_body(sender_id="PushR", message=" padded "))
    assert r.json()["sender_id"] == "PushR"
    assert r.json()["message"] == "padded"


def test_scheduled_message_is_accepted_pending_and_charged(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    r = post(client, sandbox, demo_send_body(scheduled=True, time_scheduled=later))
    assert r.status_code == 201
    assert r.json()["status"] == "pending"
    assert sandbox.state.accounts.balance(1) == "999999.94"


@pytest.mark.parametrize(
    ("overrides", "status", "expected"),
    [
        ({"api_key_secret": "wrong"}, 401, {"api_key": ["Invalid or inactive API keys."]}),
        ({"api_key_public": None}, 401, {"api_key": ["Invalid or inactive API keys."]}),
        (
            {"api_key_public": None, "api_key_secret": None},
            401,
            {"detail": "Authentication credentials were not provided."},
        ),
        ({"api_key_secret": SMALL_SECRET_KEY}, 401, {"api_key": ["Invalid or inactive API keys."]}),
        ({"message": None}, 400, {"message": ["This field may not be null."]}),
        ({"message": "   "}, 400, {"message": ["This field may not be blank."]}),
        (
            {"message": "x" * 501},
            400,
            {"message": ["Ensure this field has no more than 500 characters."]},
        ),
        ({"message": {"a": 1}}, 400, {"message": ["Not a valid string."]}),
        (
            {"recipients": "233558544343"},
            400,
            {"recipients": ['Expected a list of items but got type "str".']},
        ),
        ({"recipients": []}, 400, {"recipients": ["This list may not be empty."]}),
        (
            {"recipients": ["0558544343", "233558544343", "23355854434"]},
            400,
            {
                "recipients": [
                    "Invalid phone number: 055****343",
                    "Invalid phone number: 2335****434",
                ]
            },
        ),
        (
            {"recipients": ["233558544343", None]},
            400,
            {"recipients": {"1": ["Not a valid string."]}},
        ),
        (
            {"sender_id": "TOOLONGSENDER"},
            400,
            {"sender_id": ["Ensure this field has no more than 11 characters."]},
        ),
        (
            {"sender_id": "PENDING1"},
            400,
            {"sender_id": ["Sender ID is not approved for this business."]},
        ),
        (
            {"sender_id": "NOPE"},
            400,
            {"sender_id": ["Sender ID is not approved for this business."]},
        ),
        ({"scheduled": "sometimes"}, 400, {"scheduled": ["Must be a valid boolean."]}),
        (
            {"scheduled": True},
            400,
            {"time_scheduled": ["This field is required when scheduled is true."]},
        ),
        (
            {"scheduled": True, "time_scheduled": "2024-01-20T14:30:00Z"},
            400,
            {"time_scheduled": ["Scheduled time must be in the future."]},
        ),
        (
            {"scheduled": True, "time_scheduled": "tomorrow"},
            400,
            {
                "time_scheduled": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
        ),
    ],
)
def test_documented_errors(
    client: httpx.Client,
    sandbox: RunningSandbox,
    demo_send_body: Body,
    overrides: dict[str, Any],
    status: int,
    expected: dict[str, Any],
) -> None:
    r = post(client, sandbox, demo_send_body(**overrides))
    assert (r.status_code, r.json()) == (status, expected)
    assert sandbox.traffic.accepted_sends == 0
    assert sandbox.state.accounts.balance(1) == "1000000.00"


def test_missing_fields_are_reported_together(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    body = demo_send_body()
    del body["message"], body["recipients"]
    r = post(client, sandbox, body)
    assert r.status_code == 400
    assert r.json() == {
        "message": ["This field is required."],
        "recipients": ["This field is required."],
    }


def test_no_full_number_in_error_bodies(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    r = post(client, sandbox, demo_send_body(recipients=["0244123456", "+233244123456789"]))
    assert r.status_code == 400
    assert "0244123456" not in r.text
    assert "244123456" not in r.text


def test_insufficient_balance_then_top_up(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    body = demo_send_body(
        api_key_public=SMALL_PUBLIC_KEY,
        api_key_secret=SMALL_SECRET_KEY,
        sender_id="SMALL",
        recipients=[f"2332000000{i:02d}" for i in range(34)],
    )
    r = post(client, sandbox, body)  # 34 x 0.03 = 1.02 > 1.00
    assert (r.status_code, r.json()) == (400, {"detail": "Insufficient balance to send messages."})
    assert sandbox.state.accounts.balance(2) == "1.00"
    body["recipients"] = body["recipients"][:33]  # 0.99: fits exactly
    assert post(client, sandbox, body).status_code == 201
    assert sandbox.state.accounts.balance(2) == "0.01"
    sandbox.top_up(2, "5")
    assert post(client, sandbox, body).status_code == 201
    assert sandbox.state.accounts.balance(2) == "4.02"


def test_inactive_business_is_refused(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.call(setattr, sandbox.state.accounts.require(1), "active", False)
    r = post(client, sandbox, demo_send_body())
    assert (r.status_code, r.json()) == (401, {"api_key": ["Invalid or inactive API keys."]})


def test_body_errors(client: httpx.Client, sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}/sms/send-sms"
    r = client.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("JSON parse error - ")
    r = client.post(url, json=[1, 2])
    assert (r.status_code, r.json()) == (
        400,
        {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
    )
    r = client.post(url, content=b"a=b", headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.json()) == (
        415,
        {"detail": 'Unsupported media type "text/plain" in request.'},
    )
    r = client.get(url)
    assert (r.status_code, r.json()) == (405, {"detail": 'Method "GET" not allowed.'})
    r = client.get(f"{sandbox.url}/nothing-here")
    assert (r.status_code, r.json()) == (404, {"detail": "Not found."})


def test_trailing_slash_and_keep_alive(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    for _ in range(3):
        assert client.post(f"{sandbox.url}/sms/send-sms/", json=demo_send_body()).status_code == 201
    assert sandbox.traffic.accepted_sends == 6
    assert len(sandbox.traffic.duplicate_sends()) == 2
