"""HS256 JSON Web Tokens with the standard library, shaped like simplejwt's access tokens.

Push.R's status list takes `Authorization: Bearer <access token>`. The sandbox issues them:

- over HTTP: `POST /_sandbox/token {"business": 1}` -> `{"access": "<jwt>", ...}`
- in process: `sandbox.issue_token(1)`
- or use `DEMO_JWT` (business 1, never expires) with the default secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import orjson

DEFAULT_SECRET = "pushr-sandbox-jwt-secret"  # noqa: S105 - a documented test-only secret

_HEADER = {"alg": "HS256", "typ": "JWT"}


class TokenError(ValueError):
    """The token is malformed, wrongly signed, expired or not an access token."""


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


def decode(token: str, secret: str, now: float) -> dict[str, Any]:
    """Verified claims of an access token, or TokenError."""
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
    if not isinstance(claims, dict) or claims.get("token_type") != "access":
        raise TokenError("not an access token")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, (int, float)) or now >= exp):
        raise TokenError("expired")
    return claims


def issue(business_id: int, secret: str, now: float, ttl_s: float | None = 3600.0) -> str:
    claims: dict[str, Any] = {
        "token_type": "access",
        "iat": int(now),
        "jti": uuid.uuid4().hex,
        "user_id": business_id,
        "business": business_id,
    }
    if ttl_s is not None:
        claims["exp"] = int(now + ttl_s)
    return encode(claims, secret)


# Fixed claims, so the string is the same in every process that uses the default secret.
DEMO_JWT = encode(
    {"token_type": "access", "iat": 0, "jti": "demo", "user_id": 1, "business": 1},
    DEFAULT_SECRET,
)


def business_of(claims: dict[str, Any]) -> int | None:
    business = claims.get("business")
    return business if isinstance(business, int) and not isinstance(business, bool) else None
