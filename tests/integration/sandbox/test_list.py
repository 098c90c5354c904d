"""GET /api/client/sms/?business=ID with a JWT: auth, pagination and the message lifecycle."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.clock import ManualClock
from service.devkit.sandbox import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    LifecycleConfig,
    RunningSandbox,
    SandboxConfig,
)
from service.devkit.sandbox.jwt import encode

Body = Callable[..., dict[str, Any]]
Factory = Callable[..., RunningSandbox]
# Stands for the demo user's access token, obtained as a client would (POST /api/token/).
DEMO = "<demo user's access token>"


def demo_access(client: httpx.Client, sandbox: RunningSandbox) -> str:
    r = client.post(
        f"{sandbox.base_url}/api/token/",
        json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
    )
    assert r.status_code == 200, r.text
    access: str = r.json()["access"]
    return access


def listing(
    client: httpx.Client, sandbox: RunningSandbox, query: str, token: str | None
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.get(f"{sandbox.url}/sms/?{query}", headers=headers)


def send(client: httpx.Client, sandbox: RunningSandbox, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"{sandbox.url}/sms/send-sms", json=body)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def test_lifecycle_pending_then_final_through_the_list(
    client: httpx.Client, sandbox_factory: Factory, demo_send_body: Body
) -> None:
    clock = ManualClock()
    lifecycle = LifecycleConfig(
        sent_after_s=5, final_after_s=10, outcomes={"delivered": 0.5, "failed": 0.5}
    )
    sandbox = sandbox_factory(SandboxConfig(seed=3, lifecycle=lifecycle), clock=clock)
    ids = [send(client, sandbox, demo_send_body(message=f"m{i}"))["id"] for i in range(6)]
    token = sandbox.issue_token(1)

    def statuses() -> dict[int, str]:
        seen: dict[int, str] = {}
        url: str | None = f"{sandbox.url}/sms/?business=1&page_size=4"
        while url:  # follow `next` like a client would
            page = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            assert page["count"] == 6
            seen.update({item["id"]: item["status"] for item in page["data"]})
            url = page["next"]
        return seen

    assert statuses() == dict.fromkeys(ids, "pending")
    clock.advance(5)
    assert statuses() == dict.fromkeys(ids, "sent")
    clock.advance(5)
    final = statuses()
    assert set(final.values()) == {"delivered", "failed"}  # seed 3 gives both


def test_lifecycle_on_the_real_clock(
    client: httpx.Client, sandbox_factory: Factory, demo_send_body: Body
) -> None:
    lifecycle = LifecycleConfig(sent_after_s=0.15, final_after_s=0.3, outcomes={"delivered": 1.0})
    sandbox = sandbox_factory(SandboxConfig(lifecycle=lifecycle))
    assert send(client, sandbox, demo_send_body())["status"] == "pending"
    r = listing(client, sandbox, "business=1", sandbox.issue_token(1))
    assert r.json()["data"][0]["status"] == "pending"
    time.sleep(0.35)
    r = listing(client, sandbox, "business=1", sandbox.issue_token(1))
    assert r.json()["data"][0]["status"] == "delivered"


def test_pagination_links_and_order(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    for i in range(5):
        send(client, sandbox, demo_send_body(message=f"n{i}", recipients=["233558544343"]))
    token = demo_access(client, sandbox)
    r = listing(client, sandbox, "business=1&page_size=2", token)
    assert r.status_code == 200
    page1 = r.json()
    assert list(page1) == ["data", "count", "next", "previous"]
    assert page1["count"] == 5
    assert [m["id"] for m in page1["data"]] == [5, 4]
    assert page1["previous"] is None
    host = sandbox.base_url
    assert page1["next"] == f"{host}/api/client/sms/?business=1&page_size=2&page=2"
    page3 = client.get(
        f"{host}/api/client/sms/?business=1&page_size=2&page=3",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert [m["id"] for m in page3["data"]] == [1]
    assert page3["next"] is None
    assert page3["previous"] == f"{host}/api/client/sms/?business=1&page_size=2&page=2"
    item = page1["data"][0]
    assert list(item) == [
        "id",
        "message",
        "status",
        "created",
        "cost",
        "sender_id",
        "recipients_count",
    ]
    assert (item["message"], item["cost"], item["recipients_count"]) == ("n4", "0.03", 1)


def test_empty_list(client: httpx.Client, sandbox: RunningSandbox) -> None:
    r = listing(client, sandbox, "business=1", demo_access(client, sandbox))
    assert r.json() == {"data": [], "count": 0, "next": None, "previous": None}


@pytest.mark.parametrize(
    ("query", "token", "status", "expected"),
    [
        ("business=1", None, 401, {"detail": "Authentication credentials were not provided."}),
        ("business=1", "not-a-jwt", 401, "token_not_valid"),
        (
            "business=1",
            encode({"token_type": "access", "business": 1, "exp": 4e9}, "other-secret"),
            401,
            "token_not_valid",
        ),
        (
            "business=1",
            encode({"token_type": "access", "business": 1, "exp": 1}, "pushr-sandbox-jwt-secret"),
            401,
            "token_not_valid",
        ),
        ("", DEMO, 400, {"business": ["This field is required."]}),
        ("business=abc", DEMO, 400, {"business": ["A valid integer is required."]}),
        ("business=999", DEMO, 404, {"detail": "Not found."}),
        ("business=2", DEMO, 404, {"detail": "Not found."}),  # not the token's business
        ("business=1&page=2", DEMO, 404, {"detail": "Invalid page."}),
        ("business=1&page=x", DEMO, 404, {"detail": "Invalid page."}),
    ],
)
def test_errors(
    client: httpx.Client,
    sandbox: RunningSandbox,
    query: str,
    token: str | None,
    status: int,
    expected: Any,
) -> None:
    r = listing(client, sandbox, query, demo_access(client, sandbox) if token == DEMO else token)
    assert r.status_code == status
    if expected == "token_not_valid":
        assert r.json()["code"] == "token_not_valid"
        assert r.json()["detail"] == "Given token not valid for any token type"
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    else:
        assert r.json() == expected


def test_other_auth_schemes_are_not_credentials(
    client: httpx.Client, sandbox: RunningSandbox
) -> None:
    token = demo_access(client, sandbox)
    r = client.get(f"{sandbox.url}/sms/?business=1", headers={"Authorization": f"Token {token}"})
    assert (r.status_code, r.json()) == (
        401,
        {"detail": "Authentication credentials were not provided."},
    )


def test_token_from_the_admin_endpoint(client: httpx.Client, sandbox: RunningSandbox) -> None:
    r = client.post(f"{sandbox.base_url}/_sandbox/token", json={"business": 2, "ttl_s": 60})
    assert r.status_code == 200
    token = r.json()["access"]
    assert r.json()["token_type"] == "Bearer"
    assert listing(client, sandbox, "business=2", token).status_code == 200
    assert listing(client, sandbox, "business=1", token).status_code == 404
    r = client.post(f"{sandbox.base_url}/_sandbox/token", json={"business": 42})
    assert r.status_code == 404
    r = client.post(f"{sandbox.base_url}/_sandbox/token", json={"business": 1, "ttl_s": None})
    assert r.json()["expires_in"] == 300  # the configured access-token lifetime: none is forever
    r = client.post(f"{sandbox.base_url}/_sandbox/token", json={"business": 1, "ttl_s": 0})
    assert r.status_code == 400
