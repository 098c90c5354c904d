"""SASL/OAUTHBEARER tokens from an OIDC provider, by the client-credentials grant (RFC 6749 4.4).

aiokafka asks the provider for a token at every connection; one token serves them all until
`REFRESH_AT` of its lifetime has passed, then the next connection fetches a fresh one. When a
refresh fails while the old token is still valid, the old token is used and the next
connection tries again, so a short outage of the identity provider costs no connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from aiokafka.abc import AbstractTokenProvider
from pydantic import SecretStr

from service.clock import Clock, SystemClock
from service.configuration import ConfigurationError

# Refresh well before expiry: a connection made just before it must still authenticate.
REFRESH_AT = 0.8
# Providers that omit `expires_in` (it is only RECOMMENDED) get this lifetime.
DEFAULT_LIFETIME_S = 300.0
_TIMEOUT_S = 10.0
_MAX_ERROR_CHARS = 120


class TokenEndpointError(ConfigurationError):
    """The token endpoint refused the client or answered something that is not a token."""


class OAuthTokenProvider(AbstractTokenProvider):  # type: ignore[misc]  # untyped aiokafka base
    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        scope: str | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._clock = clock or SystemClock()
        self._transport = transport
        self._lock = asyncio.Lock()
        self._token = ""
        self._refresh_at = self._expires_at = 0.0

    async def token(self) -> str:
        async with self._lock:
            now = self._clock.monotonic()
            if self._token and now < self._refresh_at:
                return self._token
            try:
                token, lifetime = await self._fetch()
            except (httpx.HTTPError, TokenEndpointError):
                if self._token and now < self._expires_at:
                    return self._token
                raise
            self._token = token
            self._expires_at = now + lifetime
            self._refresh_at = now + lifetime * REFRESH_AT
            return token

    async def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        # client_secret_basic: the method every OAuth server must support
        auth = httpx.BasicAuth(self._client_id, self._client_secret.get_secret_value())
        async with httpx.AsyncClient(transport=self._transport, timeout=_TIMEOUT_S) as http:
            response = await http.post(self._url, data=form, auth=auth)
        body = _json_object(response)
        if response.status_code != 200:
            error = str(body.get("error") or f"HTTP {response.status_code}")[:_MAX_ERROR_CHARS]
            raise TokenEndpointError(
                f"the OAuth token endpoint {self._url} refused client {self._client_id!r}: {error}"
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenEndpointError(f"the OAuth token endpoint {self._url} sent no access_token")
        lifetime = body.get("expires_in", DEFAULT_LIFETIME_S)
        try:
            seconds = float(lifetime)
        except (TypeError, ValueError):
            seconds = DEFAULT_LIFETIME_S
        return token, max(seconds, 1.0)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
