"""A simplejwt-shaped token API behind `httpx.MockTransport`, on a test's ManualClock, for the
unit tests of the credentials and the list reader (the real one is the sandbox's).

Access tokens are JWT-shaped (`exp` in the payload, unsigned: the relay never verifies
them); the fake remembers what it issued and judges expiry on the clock."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from service.clock import ManualClock

SITE = "https://pushr.test"
BASE = f"{SITE}/api/client"
USER, PASSWORD = "relay", "correct-horse-battery"


def jwt_shaped(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@dataclass
class TokenApi:
    clock: ManualClock
    access_ttl: float = 300.0
    refresh_ttl: float = 86_400.0
    rotate_refresh: bool = False
    with_exp: bool = True
    answers: list[int] = field(default_factory=list)  # statuses to answer token calls with first
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    list_calls: list[str] = field(default_factory=list)  # the bearer token of each list read
    revoked: set[str] = field(default_factory=set)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def token(self, kind: str, ttl: float) -> str:
        claims: dict[str, Any] = {"token_type": kind, "jti": next(self._serial)}
        if self.with_exp:
            claims["exp"] = int(self.clock.now() + ttl)
        return jwt_shaped(claims)

    def valid(self, token: str, kind: str) -> bool:
        try:
            payload = token.split(".")[1]
            claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return False
        exp = claims.get("exp")
        fresh = exp is None or self.clock.now() < exp
        return claims.get("token_type") == kind and fresh and token not in self.revoked

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/api/client/sms"):
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            self.list_calls.append(bearer)
            if not self.valid(bearer, "access"):
                refusal = {"detail": "Given token not valid", "code": "token_not_valid"}
                return httpx.Response(401, json=refusal)
            page = {"data": [{"id": 1, "status": "delivered"}], "count": 1, "next": None}
            return httpx.Response(200, json={**page, "previous": None})
        body = orjson.loads(request.content)
        self.calls.append((path, body))
        if self.answers:
            return httpx.Response(self.answers.pop(0), json={"detail": "from the test"})
        if path == "/api/token/":
            if (body.get("username"), body.get("password")) != (USER, PASSWORD):
                return httpx.Response(
                    401, json={"detail": "No active account found with the given credentials"}
                )
            return httpx.Response(
                200,
                json={
                    "refresh": self.token("refresh", self.refresh_ttl),
                    "access": self.token("access", self.access_ttl),
                },
            )
        if path == "/api/token/refresh/":
            if not self.valid(body.get("refresh", ""), "refresh"):
                return httpx.Response(
                    401, json={"detail": "Token is invalid or expired", "code": "token_not_valid"}
                )
            answer = {"access": self.token("access", self.access_ttl)}
            if self.rotate_refresh:
                answer["refresh"] = self.token("refresh", self.refresh_ttl)
            return httpx.Response(200, json=answer)
        return httpx.Response(404, json={"detail": "Not found."})

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]
