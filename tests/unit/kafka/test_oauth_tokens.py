"""The OAUTHBEARER token provider: client-credentials grant, one token shared until it is
due for refresh, the old token kept through a failed refresh while it is still valid.
Behind the httpx transport seam (a scripted token endpoint) on the manual clock."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from service.clock import ManualClock
from service.kafka.oauth import REFRESH_AT, OAuthTokenProvider, TokenEndpointError

URL = "https://idp.example/oauth2/token"
SECRET = "client-secret-for-tests"


class TokenEndpoint:
    """Answers each request with the next scripted answer and records what it was asked."""

    def __init__(self, *answers: Callable[[int], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)(len(self.requests))


def token(lifetime: float | None = 100.0) -> Callable[[int], httpx.Response]:
    def answer(n: int) -> httpx.Response:
        body: dict[str, object] = {"access_token": f"token-{n}", "token_type": "Bearer"}
        if lifetime is not None:
            body["expires_in"] = lifetime
        return httpx.Response(200, json=body)

    return answer


def refused(status: int = 401) -> Callable[[int], httpx.Response]:
    return lambda _n: httpx.Response(status, json={"error": "invalid_client"})


def unreachable(_n: int) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


def provider(
    endpoint: TokenEndpoint, clock: ManualClock, scope: str | None = None
) -> OAuthTokenProvider:
    return OAuthTokenProvider(
        token_url=URL,
        client_id="relay",
        client_secret=SecretStr(SECRET),
        scope=scope,
        clock=clock,
        transport=httpx.MockTransport(endpoint),
    )


async def test_it_asks_with_the_client_credentials_grant() -> None:
    endpoint = TokenEndpoint(token())
    tokens = provider(endpoint, ManualClock(), scope="kafka")

    assert await tokens.token() == "token-1"

    (request,) = endpoint.requests
    assert request.method == "POST"
    assert str(request.url) == URL
    expected = base64.b64encode(f"relay:{SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.content == b"grant_type=client_credentials&scope=kafka"


async def test_one_token_serves_every_connection_until_it_is_due_for_refresh() -> None:
    clock = ManualClock()
    endpoint = TokenEndpoint(token(100.0), token(100.0))
    tokens = provider(endpoint, clock)

    assert [await tokens.token() for _ in range(5)] == ["token-1"] * 5
    clock.advance(100.0 * REFRESH_AT - 0.01)
    assert await tokens.token() == "token-1"
    clock.advance(0.02)  # past the refresh point, still before expiry
    assert await tokens.token() == "token-2"
    assert len(endpoint.requests) == 2


async def test_a_failed_refresh_keeps_the_valid_token_and_retries_next_time() -> None:
    clock = ManualClock()
    endpoint = TokenEndpoint(token(100.0), unreachable, refused(503), token(100.0))
    tokens = provider(endpoint, clock)
    await tokens.token()
    clock.advance(90.0)

    assert await tokens.token() == "token-1"  # endpoint unreachable
    assert await tokens.token() == "token-1"  # endpoint answered 503
    assert await tokens.token() == "token-4"
    assert len(endpoint.requests) == 4


async def test_no_token_once_the_old_one_expired_and_the_endpoint_fails() -> None:
    clock = ManualClock()
    endpoint = TokenEndpoint(token(100.0), unreachable)
    tokens = provider(endpoint, clock)
    await tokens.token()
    clock.advance(100.0)

    with pytest.raises(httpx.ConnectError):
        await tokens.token()


async def test_a_refused_client_is_one_line_without_the_secret() -> None:
    tokens = provider(TokenEndpoint(refused()), ManualClock())

    with pytest.raises(TokenEndpointError) as caught:
        await tokens.token()

    assert str(caught.value) == (
        f"the OAuth token endpoint {URL} refused client 'relay': invalid_client"
    )
    assert SECRET not in str(caught.value)


async def test_an_answer_without_a_token_is_refused() -> None:
    no_token = TokenEndpoint(lambda _n: httpx.Response(200, json={"token_type": "Bearer"}))

    with pytest.raises(TokenEndpointError, match="sent no access_token"):
        await provider(no_token, ManualClock()).token()


async def test_a_token_without_a_lifetime_is_refreshed_after_the_default() -> None:
    clock = ManualClock()
    endpoint = TokenEndpoint(token(lifetime=None), token())
    tokens = provider(endpoint, clock)
    await tokens.token()

    clock.advance(300.0 * REFRESH_AT + 0.01)

    assert await tokens.token() == "token-2"
