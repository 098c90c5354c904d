"""The admin API under `/_sandbox/` (JSON; never faulted, never in the traffic record).

    GET  /_sandbox/health                      {"status": "ok", "url": ..., "listening": true}
    GET  /_sandbox/traffic[?recent=N]          counters, accepted sends, duplicates
    GET  /_sandbox/sends[?recipient=R[&message=TEXT]][&limit=N]
    GET  /_sandbox/faults                      the fault config
    POST /_sandbox/faults {...}                replace it (see faults.py); {} clears
    POST /_sandbox/outage {"duration_s": 2, "start_s": 0}
    GET  /_sandbox/state                       businesses, balances, lifecycle, message counts
    POST /_sandbox/lifecycle {...}             replace the lifecycle for new messages
    POST /_sandbox/list {"lag_s": 2}           list each message lag_s after its `created`
    GET  /_sandbox/balance?business=1
    POST /_sandbox/balance {"business": 1, "balance": "10.00"} | {"business": 1, "top_up": "5"}
    POST /_sandbox/token {"business": 1, "ttl_s": 60}       -> {"access": "<jwt>", ...}
                                               (ttl_s: default the access-token lifetime)
    POST /_sandbox/reset                       back to the start-up state

Errors are `{"detail": "..."}` with 400 (bad input), 404 (unknown business or path) or 405.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from service.devkit.sandbox import responses
from service.devkit.sandbox.wire import Request

if TYPE_CHECKING:
    from service.devkit.sandbox.server import SandboxServer

# An admin-requested outage starts a moment later, so its own answer gets out first.
ADMIN_OUTAGE_GRACE_S = 0.05


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def handle(server: SandboxServer, request: Request, path: bytes) -> bytes:
    route = path.decode("latin-1").removeprefix("/_sandbox/").rstrip("/")
    method = request.method.decode("latin-1")
    handler = _HANDLERS.get((method, route))
    if handler is None:
        known = {r for _, r in _HANDLERS}
        status = 405 if route in known else 404
        message = f'Method "{method}" not allowed.' if status == 405 else "Not found."
        return responses.detail(status, message)
    query = dict(parse_qsl(request.url.decode("latin-1").partition("?")[2]))
    try:
        return responses.json(200, handler(server, query, _object(request.body)))
    except AdminError as exc:
        return responses.detail(exc.status, str(exc))
    except orjson.JSONDecodeError as exc:
        return responses.detail(400, f"JSON parse error - {exc}")
    except (ValueError, TypeError, KeyError) as exc:
        return responses.detail(400, f"{type(exc).__name__}: {exc}")


def _object(raw: bytes) -> dict[str, Any]:
    body = orjson.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise AdminError(400, "expected a JSON object")
    return body


def _business(server: SandboxServer, raw: object) -> int:
    if raw is None:
        raise AdminError(400, "business is required")
    business = int(str(raw))
    if server.state.accounts.get(business) is None:
        raise AdminError(404, f"no business {business}")
    return business


def health(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    return {"status": "ok", "url": server.url, "listening": server.http.listening}


def traffic(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    return server.traffic.summary(recent=int(query.get("recent", 0)))


def sends(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    t = server.traffic
    if "recipient" in query:
        count = t.sends_for(query["recipient"], query.get("message"))
        return {"recipient": query["recipient"], "message": query.get("message"), "count": count}
    return {
        "accepted_sends": t.accepted_sends,
        "per_recipient": t.per_recipient_counts(int(query.get("limit", 1000))),
        "duplicates": [d.to_dict() for d in t.duplicate_sends()],
    }


def get_faults(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    return server.faults.to_dict()


def set_faults(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    return server.set_faults(body).to_dict()


def outage(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    duration = float(body.get("duration_s", 1.0))
    start = max(float(body.get("start_s", 0.0)), ADMIN_OUTAGE_GRACE_S)
    if duration <= 0:
        raise AdminError(400, "duration_s must be > 0")
    server.outage(duration, start)
    return {"status": "scheduled", "start_s": start, "duration_s": duration}


def state(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    return server.state.describe()


def lifecycle(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    return server.set_lifecycle(body).to_dict()


def list_lag(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    return {"lag_s": server.set_list_lag(float(body.get("lag_s", 0.0)))}


def get_balance(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    business = _business(server, query.get("business"))
    return {"business": business, "balance": server.state.accounts.balance(business)}


def set_balance(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    business = _business(server, body.get("business"))
    if "balance" in body:
        balance = server.set_balance(business, body["balance"])
    elif "top_up" in body:
        balance = server.top_up(business, body["top_up"])
    else:
        raise AdminError(400, "give balance or top_up")
    return {"business": business, "balance": balance}


def token(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    business = _business(server, body.get("business", 1))
    raw = body.get("ttl_s")
    ttl = server.state.access_ttl_s if raw is None else float(raw)
    if not ttl > 0:
        raise AdminError(400, "ttl_s must be > 0: every token expires")
    access = server.issue_token(business, ttl)
    return {"access": access, "token_type": "Bearer", "business": business, "expires_in": ttl}


def reset(server: SandboxServer, query: dict[str, str], body: dict[str, Any]) -> Any:
    server.reset()
    return {"status": "reset"}


_HANDLERS = {
    ("GET", "health"): health,
    ("GET", "traffic"): traffic,
    ("GET", "sends"): sends,
    ("GET", "faults"): get_faults,
    ("POST", "faults"): set_faults,
    ("POST", "outage"): outage,
    ("GET", "state"): state,
    ("POST", "lifecycle"): lifecycle,
    ("POST", "list"): list_lag,
    ("GET", "balance"): get_balance,
    ("POST", "balance"): set_balance,
    ("POST", "token"): token,
    ("POST", "reset"): reset,
}
