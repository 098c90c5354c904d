"""simplejwt's two endpoints on the site root, as djangorestframework-simplejwt answers them.

    POST /api/token/          {"username", "password"} -> 200 {"refresh", "access"}
    POST /api/token/refresh/  {"refresh"}              -> 200 {"access"}

Push.R's API text says only "JWT token required"; these are simplejwt's default paths and
shapes (an assumption the relay makes configurable). Bad credentials: 401
`{"detail": "No active account found with the given credentials"}`; a bad, expired or
wrong-type refresh token: 401 `{"detail": "Token is invalid or expired", "code":
"token_not_valid"}`; a missing field: 400 `{"field": ["This field is required."]}`. Bodies are
JSON or form-encoded, as DRF's default parsers take them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from service.devkit.sandbox import jwt, responses
from service.devkit.sandbox import validation as v
from service.devkit.sandbox.api import rejected, unsupported_media
from service.devkit.sandbox.state import Handled, SandboxState
from service.devkit.sandbox.wire import Request

NO_ACTIVE_ACCOUNT = "No active account found with the given credentials"
_WWW_AUTH = b'WWW-Authenticate: Bearer realm="api"\r\n'


def obtain(state: SandboxState, request: Request) -> Handled:
    data = _body(request)
    if isinstance(data, Handled):
        return data
    errors = {name: [error] for name in ("username", "password") if (error := _field(data, name))}
    if errors:
        return rejected(400, errors)
    business = state.accounts.login(data["username"], data["password"])
    if business is None:
        return _unauthorized({"detail": NO_ACTIVE_ACCOUNT})
    return Handled(responses.json(200, state.issue_pair(business.id)), 200, "ok", business.id)


def refresh(state: SandboxState, request: Request) -> Handled:
    data = _body(request)
    if isinstance(data, Handled):
        return data
    error = _field(data, "refresh")
    if error:
        return rejected(400, {"refresh": [error]})
    try:
        access = state.refreshed(data["refresh"])
    except jwt.TokenError as exc:
        return _unauthorized({"detail": exc.message, "code": "token_not_valid"})
    return Handled(responses.json(200, {"access": access}), 200, "ok")


def _unauthorized(payload: dict[str, Any]) -> Handled:
    return Handled(responses.json(401, payload, _WWW_AUTH), 401, "unauthorized")


def _body(request: Request) -> dict[str, Any] | Handled:
    content_type = request.headers.get(b"content-type") or b""
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    if not content_type.startswith(b"application/json"):
        return unsupported_media(content_type)
    try:
        data = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError as exc:
        return rejected(400, {"detail": f"JSON parse error - {exc}"})
    if not isinstance(data, dict):
        got = type(data).__name__ if data is not None else "NoneType"
        return rejected(
            400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {got}."]}
        )
    return data


def _field(data: dict[str, Any], name: str) -> str | None:
    """DRF's CharField error for `data[name]`, None when it is usable."""
    if name not in data:
        return v.REQUIRED
    value = data[name]
    if value is None:
        return v.NULL
    if v.coerce_string(value) is None:
        return v.NOT_STRING
    if not str(value).strip():
        return v.BLANK
    data[name] = v.coerce_string(value)
    return None
