"""`GET /sms/?business=ID` with `Authorization: Bearer <JWT>`: paginated, newest first.

DRF's page-number pagination renamed as Push.R has it: `data`, `count`, `next`,
`previous`; `?page=N` (from 1) and `?page_size=N` (default from the config, at most 100).

A message is listed from its `created` on (the moment its request was processed: resets
and late answers were processed, hangs never were), plus `list_lag_s`: an eventually
consistent list, as the reconciler's settle time must allow for. Template sends list one
message per rendered row (one recipient each), created when the request is processed.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from service.devkit.sandbox import jwt, responses
from service.devkit.sandbox import validation as v
from service.devkit.sandbox.api import rejected
from service.devkit.sandbox.state import Handled, SandboxState
from service.devkit.sandbox.wire import Request

MAX_PAGE_SIZE = 100
_WWW_AUTH = b'WWW-Authenticate: Bearer realm="api"\r\n'
# simplejwt's answer to a bad token
_TOKEN_INVALID = {
    "detail": "Given token not valid for any token type",
    "code": "token_not_valid",
    "messages": [{"token_class": "AccessToken", "token_type": "access", "message": jwt.INVALID}],
}


def list_messages(state: SandboxState, request: Request) -> Handled:
    auth = request.headers.get(b"authorization", b"")
    scheme, _, token = auth.decode("latin-1").partition(" ")
    if scheme != "Bearer" or not token.strip():
        return Handled(responses.detail(401, v.NO_CREDENTIALS, _WWW_AUTH), 401, "unauthorized")
    token_business = state.token_business(token.strip())
    if token_business is None:
        return Handled(responses.json(401, _TOKEN_INVALID, _WWW_AUTH), 401, "unauthorized")

    path, _, query = request.url.decode("latin-1").partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if "business" not in params:
        return rejected(400, {"business": [v.REQUIRED]})
    business_id = v.parse_int(params["business"])
    if business_id is None:
        return rejected(400, {"business": [v.NOT_INT]})
    # Another business's list is as invisible as a missing one.
    if state.accounts.get(business_id) is None or business_id != token_business:
        return rejected(404, {"detail": v.NOT_FOUND}, business_id)

    page = v.parse_int(params.get("page", "1"))
    size = v.parse_int(params.get("page_size", str(state.page_size)))
    size = state.page_size if size is None or size < 1 else min(size, MAX_PAGE_SIZE)
    now = state.clock.now()
    lag = state.list_lag_s
    hidden = state.messages.created_after(business_id, now - lag) if lag > 0 else 0
    count = state.messages.count(business_id) - hidden
    last_page = max(1, -(-count // size))
    if page is None or not 1 <= page <= last_page:
        return rejected(404, {"detail": "Invalid page."}, business_id)

    items = state.messages.page(business_id, hidden + (page - 1) * size, size)
    host = request.headers.get(b"host", b"localhost").decode("latin-1")
    base = f"{state.scheme}://{host}{path}"

    def link(target: int) -> str:
        query_params = {k: val for k, val in params.items() if k != "page"}
        if target > 1:
            query_params["page"] = str(target)
        return f"{base}?{urlencode(query_params)}"

    payload = {
        "data": [m.listed(now) for m in items],
        "count": count,
        "next": link(page + 1) if page < last_page else None,
        "previous": link(page - 1) if page > 1 else None,
    }
    return Handled(responses.json(200, payload), 200, "ok", business_id)
