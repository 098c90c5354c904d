"""simplejwt's obtain and refresh endpoints on the sandbox's site root: shapes, errors, and
access tokens that expire on the sandbox's clock (moved by the test, never waited for)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.clock import ManualClock
from service.devkit.sandbox import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SMALL_PASSWORD,
    SMALL_USERNAME,
    RunningSandbox,
    SandboxConfig,
)

Factory = Callable[..., RunningSandbox]
DEMO = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
REQUIRED, BLANK, NULL = (
    "This field is required.",
    "This field may not be blank.",
    "This field may not be null.",
)
TOKEN_NOT_VALID = {"detail": "Token is invalid or expired", "code": "token_not_valid"}


def obtain(client: httpx.Client, sandbox: RunningSandbox, body: Any = None, **kw: Any):
    return client.post(f"{sandbox.base_url}/api/token/", json=DEMO if body is None else body, **kw)


def refresh(client: httpx.Client, sandbox: RunningSandbox, token: Any) -> httpx.Response:
    return client.post(f"{sandbox.base_url}/api/token/refresh/", json={"refresh": token})


def list_status(client: httpx.Client, sandbox: RunningSandbox, access: str, business: int = 1):
    r = client.get(
        f"{sandbox.url}/sms/?business={business}", headers={"Authorization": f"Bearer {access}"}
    )
    return r.status_code


def test_obtain_and_refresh_as_simplejwt_answers(client: httpx.Client, sandbox: RunningSandbox):
    r = obtain(client, sandbox)
    assert r.status_code == 200
    pair = r.json()
    assert list(pair) == ["refresh", "access"]
    assert list_status(client, sandbox, pair["access"]) == 200
    assert list_status(client, sandbox, pair["refresh"]) == 401  # not an access token

    r = refresh(client, sandbox, pair["refresh"])
    assert r.status_code == 200
    assert list(r.json()) == ["access"]
    assert list_status(client, sandbox, r.json()["access"]) == 200
    assert [rec.endpoint for rec in sandbox.traffic.requests()] == [
        "token", "list", "list", "token-refresh", "list",
    ]  # fmt: skip


def test_each_demo_user_reads_its_own_business(client: httpx.Client, sandbox: RunningSandbox):
    small = obtain(client, sandbox, {"username": SMALL_USERNAME, "password": SMALL_PASSWORD})
    assert list_status(client, sandbox, small.json()["access"], business=2) == 200
    assert list_status(client, sandbox, small.json()["access"], business=1) == 404


def test_paths_without_the_trailing_slash_and_form_bodies(
    client: httpx.Client, sandbox: RunningSandbox
) -> None:
    r = client.post(f"{sandbox.base_url}/api/token", data=DEMO)
    assert r.status_code == 200
    r = client.post(f"{sandbox.base_url}/api/token/refresh", data={"refresh": r.json()["refresh"]})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"username": "demo", "password": "wrong"}, 401, "no_active_account"),
        ({"username": "nobody", "password": "demo-password"}, 401, "no_active_account"),
        ({}, 400, {"username": [REQUIRED], "password": [REQUIRED]}),
        ({"username": "", "password": None}, 400, {"username": [BLANK], "password": [NULL]}),
        ({"username": ["demo"], "password": "x"}, 400, {"username": ["Not a valid string."]}),
        ([DEMO], 400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)  # fmt: skip
def test_obtain_errors(
    client: httpx.Client, sandbox: RunningSandbox, body: Any, status: int, expected: Any
) -> None:
    r = obtain(client, sandbox, body)
    assert r.status_code == status
    if expected == "no_active_account":
        assert r.json() == {"detail": "No active account found with the given credentials"}
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    else:
        assert r.json() == expected


def test_an_inactive_business_has_no_active_account(
    client: httpx.Client, sandbox_factory: Factory
) -> None:
    sandbox = sandbox_factory(
        SandboxConfig(
            accounts=[
                {
                    "id": 1,
                    "public_key": "pk",
                    "secret_key": "sk",
                    "username": "demo",
                    "password": "demo-password",
                    "active": False,
                }
            ]
        )
    )
    assert obtain(client, sandbox).status_code == 401


def test_obtain_wants_json_or_a_form(client: httpx.Client, sandbox: RunningSandbox) -> None:
    r = client.post(
        f"{sandbox.base_url}/api/token/", content=b"demo", headers={"Content-Type": "text/plain"}
    )
    assert (r.status_code, r.json()) == (
        415,
        {"detail": 'Unsupported media type "text/plain" in request.'},
    )


@pytest.mark.parametrize("token", ["garbage", "a.b.c", None, ""])
def test_refresh_errors(client: httpx.Client, sandbox: RunningSandbox, token: Any) -> None:
    r = refresh(client, sandbox, token)
    if token in (None, ""):
        assert r.status_code == 400
        assert list(r.json()) == ["refresh"]
    else:
        assert (r.status_code, r.json()) == (401, TOKEN_NOT_VALID)


def test_an_access_token_is_not_a_refresh_token(client: httpx.Client, sandbox: RunningSandbox):
    access = obtain(client, sandbox).json()["access"]
    r = refresh(client, sandbox, access)
    assert (r.status_code, r.json()) == (
        401,
        {"detail": "Token has wrong type", "code": "token_not_valid"},
    )


def test_tokens_expire_on_the_sandbox_clock(client: httpx.Client, sandbox_factory: Factory):
    clock = ManualClock()
    sandbox = sandbox_factory(SandboxConfig(seed=1, access_token_ttl_s=60), clock=clock)
    pair = obtain(client, sandbox).json()

    clock.advance(59)
    assert list_status(client, sandbox, pair["access"]) == 200
    clock.advance(1)
    r = client.get(
        f"{sandbox.url}/sms/?business=1", headers={"Authorization": f"Bearer {pair['access']}"}
    )
    assert r.status_code == 401
    assert r.json()["code"] == "token_not_valid"
    assert r.json()["messages"][0]["message"] == "Token is invalid or expired"

    fresh = refresh(client, sandbox, pair["refresh"]).json()["access"]
    assert list_status(client, sandbox, fresh) == 200

    clock.advance(86_400 - 60)  # the refresh token's day is over
    assert refresh(client, sandbox, pair["refresh"]).json() == TOKEN_NOT_VALID
    assert obtain(client, sandbox).status_code == 200  # the way back: credentials again


def test_token_endpoints_can_be_faulted_only_when_named(
    client: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults({"sequence": ["503"]})
    assert obtain(client, sandbox).status_code == 200  # aimed at the SMS API: not faulted
    sandbox.set_faults({"sequence": ["503"], "endpoints": ["token"]})
    assert obtain(client, sandbox).status_code == 503
    assert obtain(client, sandbox).status_code == 200
