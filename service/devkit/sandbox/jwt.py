"""HS256 JSON Web Tokens with the standard library, shaped like simplejwt's tokens.

Push.R's status list takes `Authorization: Bearer <access token>`. The sandbox issues access
tokens (5 minutes by default) and refresh tokens (1 day), simplejwt's defaults, through
`POST /api/token/` and `POST /api/token/refresh/` (see `tokens.py`); tests may also ask for
one in process (`sandbox.issue_token(1)`) or over `POST /_sandbox/token`. Every token
expires: there is no never-expiring demo token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import orjson

DEFAULT_SECRET = "pushr-sandbox-jwt-secret"  # noqa: S105 - a documented test-only secret

ACCESS_TTL_S = 300.0
REFRESH_TTL_S = 86_400.0
_HEADER = {"alg": "HS256", "typ": "JWT"}
INVALID = "Token is invalid or expired"  # simplejwt's words, for any token it cannot use
WRONG_TYPE = "Token has wrong type"


class TokenError(ValueError):
    """The token is malformed, wrongly signed, expired or of the other type; `message` is
    what simplejwt would answer, the exception text says why."""

    @property
    def message(self) -> str:
        return WRONG_TYPE if str(self) == "wrong token type" else INVALID


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise TokenError("bad base64") from exc


def _sign(signing_input: bytes, secret: str) -> str:
    return _b64encode(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())


def encode(claims: dict[str, Any], secret: str) -> str:
    header = _b64encode(orjson.dumps(_HEADER))
    payload = _b64encode(orjson.dumps(claims))
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_sign(signing_input, secret)}"


def decode(token: str, secret: str, now: float, kind: str = "access") -> dict[str, Any]:
    """Verified claims of a token of `kind` (access or refresh), or TokenError."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not three segments")
    header_b64, payload_b64, signature = parts
    try:
        expected = _sign(f"{header_b64}.{payload_b64}".encode("ascii"), secret)
    except UnicodeEncodeError as exc:
        raise TokenError("not ASCII") from exc
    if not hmac.compare_digest(expected, signature):
        raise TokenError("bad signature")
    try:
        header = orjson.loads(_b64decode(header_b64))
        claims = orjson.loads(_b64decode(payload_b64))
    except orjson.JSONDecodeError as exc:
        raise TokenError("not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("algorithm is not HS256")
    if not isinstance(claims, dict):
        raise TokenError("claims are not an object")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or now >= exp:
        raise TokenError("expired")  # a token without `exp` is not one the sandbox issued
    if claims.get("token_type") != kind:
        raise TokenError("wrong token type")
    return claims


def issue(business_id: int, secret: str, now: float, ttl_s: float, kind: str = "access") -> str:
    """A token of `kind` (access or refresh) for the business's user, for `ttl_s` seconds."""
    claims: dict[str, Any] = {
        "token_type": kind,
        "exp": int(now + ttl_s),
        "iat": int(now),
        "jti": uuid.uuid4().hex,
        "user_id": business_id,
        "business": business_id,
    }
    return encode(claims, secret)


def business_of(claims: dict[str, Any]) -> int | None:
    business = claims.get("business")
    return business if isinstance(business, int) and not isinstance(business, bool) else None
