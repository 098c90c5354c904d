"""`POST /sms/send-sms`, as Push.R's API text describes it, and helpers shared by the endpoints.

Checks run in DRF's order: body parsing, API keys (401), field formats (400, all fields'
errors together), then cross-field rules (schedule, sender id), then the balance.
"""

from __future__ import annotations

from typing import Any

import orjson

from service.devkit.sandbox import responses
from service.devkit.sandbox import validation as v
from service.devkit.sandbox.state import Handled, SandboxState
from service.devkit.sandbox.wire import Request

_ACCEPTED = "accepted"


def rejected(status: int, payload: dict[str, Any], business: int | None = None) -> Handled:
    outcome = {401: "unauthorized", 404: "not_found"}.get(status, "rejected")
    return Handled(responses.json(status, payload), status, outcome, business)


def unsupported_media(content_type: bytes | None) -> Handled:
    shown = (content_type or b"").decode("latin-1").split(";")[0]
    return rejected(415, {"detail": f'Unsupported media type "{shown}" in request.'})


def pick_sender(sender_id: str | None, approved: list[str]) -> tuple[str | None, str | None]:
    """(sender id to use, error)."""
    if sender_id is None:
        return (approved[0], None) if approved else (None, v.NO_APPROVED_SENDER)
    if sender_id not in approved:
        return None, v.SENDER_NOT_APPROVED
    return sender_id, None


def schedule(scheduled: bool, time_scheduled: float | None, now: float) -> str | None:
    if not scheduled:
        return None
    if time_scheduled is None:
        return v.SCHEDULE_REQUIRED
    if time_scheduled <= now:
        return v.SCHEDULE_PAST
    return None


def send_sms(state: SandboxState, request: Request) -> Handled:
    content_type = request.headers.get(b"content-type")
    if content_type is None or not content_type.startswith(b"application/json"):
        return unsupported_media(content_type)
    try:
        data = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        return rejected(400, {"detail": f"JSON parse error - {exc}"})
    if type(data) is not dict:
        kind = {list: "list", str: "str", int: "int", float: "float", bool: "bool"}
        got = kind.get(type(data), "NoneType")
        msg = f"Invalid data. Expected a dictionary, but got {got}."
        return rejected(400, {"non_field_errors": [msg]})

    public, secret = data.get("api_key_public"), data.get("api_key_secret")
    if public is None and secret is None:
        return rejected(401, {"detail": v.NO_CREDENTIALS})
    business = state.accounts.authenticate(public, secret)
    if business is None:
        return rejected(401, {"api_key": [v.INVALID_KEYS]})

    errors: dict[str, Any] = {}
    message = _message(data, errors)
    recipients = _recipients(data, errors)
    sender_id = _sender_id(data, errors)
    scheduled = v.parse_bool(data.get("scheduled", False))
    if scheduled is None:
        errors["scheduled"] = [v.NOT_BOOL]
    raw_time = data.get("time_scheduled")
    time_scheduled = None if raw_time in (None, "") else v.parse_datetime(raw_time)
    if raw_time not in (None, "") and time_scheduled is None:
        errors["time_scheduled"] = [v.BAD_DATETIME]
    if errors:
        return rejected(400, errors, business.id)
    assert message is not None
    assert recipients is not None

    now = state.clock.now()
    sender, sender_error = pick_sender(sender_id, business.approved_sender_ids)
    if sender_error is not None:
        errors["sender_id"] = [sender_error]
    schedule_error = schedule(bool(scheduled), time_scheduled, now)
    if schedule_error is not None:
        errors["time_scheduled"] = [schedule_error]
    if errors:
        return rejected(400, errors, business.id)
    assert sender is not None

    cost = v.units(message) * len(recipients) * business.price_per_unit
    if cost > business.balance:
        return rejected(400, {"detail": v.INSUFFICIENT_BALANCE}, business.id)
    due = time_scheduled if scheduled and time_scheduled is not None else now
    sms = state.accept(business, message, sender, recipients, cost=cost, now=now, due=due)
    body = orjson.dumps(
        {
            "id": sms.id,
            "business": business.id,
            "message": message,
            "status": sms.status(now),
            "created": sms.created_text,
            "cost": sms.cost,
            "sender_id": sender,
            "recipients_count": sms.recipients_count,
        }
    )
    return Handled(
        responses.raw(201, body), 201, _ACCEPTED, business.id, (sms.id,), len(recipients)
    )


def _message(data: dict[str, Any], errors: dict[str, Any]) -> str | None:
    if "message" not in data:
        errors["message"] = [v.REQUIRED]
        return None
    raw = data["message"]
    if raw is None:
        errors["message"] = [v.NULL]
        return None
    text = v.coerce_string(raw)
    if text is None:
        errors["message"] = [v.NOT_STRING]
        return None
    text = text.strip()  # DRF's CharField trims by default
    if not text:
        errors["message"] = [v.BLANK]
    elif len(text) > v.MAX_MESSAGE:
        errors["message"] = [v.too_long(v.MAX_MESSAGE)]
    return text


def _recipients(data: dict[str, Any], errors: dict[str, Any]) -> list[str] | None:
    raw = data.get("recipients")
    if raw is None:
        errors["recipients"] = [v.REQUIRED if "recipients" not in data else v.NULL]
        return None
    if type(raw) is not list:
        errors["recipients"] = [v.expected_list(raw)]
        return None
    if not raw:
        errors["recipients"] = [v.EMPTY_LIST]
        return None
    normalised: list[str] = []
    child_errors: dict[str, list[str]] = {}
    invalid: list[str] = []
    for index, item in enumerate(raw):
        number = v.normalise_phone(item)
        if number is not None:
            normalised.append(number)
            continue
        text = v.coerce_string(item)
        if text is None:
            child_errors[str(index)] = [v.NOT_STRING]
        elif len(invalid) < 10:
            number = v.normalise_phone(text)  # DRF turns 233558544343 (a JSON number) into text
            if number is not None:
                normalised.append(number)
            else:
                invalid.append(v.invalid_phone(text))
    if child_errors:
        errors["recipients"] = child_errors
    elif invalid:
        errors["recipients"] = invalid
    return normalised


def _sender_id(data: dict[str, Any], errors: dict[str, Any]) -> str | None:
    raw = data.get("sender_id")
    if raw is None or raw == "":
        return None
    sender = v.coerce_string(raw)
    if sender is None:
        errors["sender_id"] = [v.NOT_STRING]
    elif len(sender) > v.MAX_SENDER_ID:
        errors["sender_id"] = [v.too_long(v.MAX_SENDER_ID)]
    return sender
