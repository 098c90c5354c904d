"""`POST /sms/custom`: a template and a CSV, one personalised message per row.

Each row becomes its own message (one recipient), charged on acceptance; the answer is
`{"recipients_count": N, "status": "PROCESSING"}` with no message id, as documented.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import parse_qsl

from service.devkit.sandbox import responses
from service.devkit.sandbox import validation as v
from service.devkit.sandbox.api import pick_sender, rejected, schedule, unsupported_media
from service.devkit.sandbox.state import Handled, SandboxState
from service.devkit.sandbox.wire import Request

MAX_ROW_ERRORS = 10
_BOUNDARY = re.compile(rb'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME = re.compile(r'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(r'\bfilename="([^"]*)"', re.IGNORECASE)


class Form:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.files: dict[str, bytes] = {}


def parse_multipart(body: bytes, content_type: bytes) -> Form | None:
    """Fields and files of a multipart/form-data body; None when it cannot be read."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        return None
    delimiter = b"--" + found.group(1)
    sections = body.split(delimiter)
    if len(sections) < 2:
        return None
    form = Form()
    for section in sections[1:]:
        if section.startswith(b"--"):
            break
        head, sep, content = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            return None
        content = content.removesuffix(b"\r\n")
        headers = head.decode("utf-8", "replace")
        name = _NAME.search(headers)
        if name is None:
            continue
        if _FILENAME.search(headers) is not None:
            form.files[name.group(1)] = content
        else:
            form.fields[name.group(1)] = content.decode("utf-8", "replace")
    return form


def read_csv(raw: bytes, variables: list[str]) -> tuple[list[dict[str, str]], list[str]]:
    """(rows, errors) for a CSV that must hold `contact` plus every template variable."""
    try:
        text = raw.decode("utf-8-sig")  # Excel's BOM is still UTF-8
    except UnicodeDecodeError:
        return [], ["File must be UTF-8 encoded."]
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if "contact" not in header:
        return [], ["CSV file must include a 'contact' column."]
    missing = [name for name in variables if name not in header]
    if missing:
        return [], [f"CSV file is missing columns for template variables: {', '.join(missing)}."]
    rows = [
        dict(zip(header, (cell.strip() for cell in cells), strict=False))
        for cells in reader
        if any(cell.strip() for cell in cells)
    ]
    if not rows:
        return [], ["CSV file must contain at least one data row."]
    return rows, []


def custom_sms(state: SandboxState, request: Request) -> Handled:
    content_type = request.headers.get(b"content-type") or b""
    media = content_type.split(b";")[0].strip().lower()
    if media == b"multipart/form-data":
        form = parse_multipart(request.body, content_type)
        if form is None:
            return rejected(400, {"detail": "Multipart form parse error - Invalid boundary."})
    elif media == b"application/x-www-form-urlencoded":  # DRF parses it; it just has no file
        form = Form()
        form.fields = dict(parse_qsl(request.body.decode("utf-8", "replace"), True))
    else:
        return unsupported_media(content_type)
    fields = form.fields

    public, secret = fields.get("api_key_public"), fields.get("api_key_secret")
    if public is None and secret is None:
        return rejected(401, {"detail": v.NO_CREDENTIALS})
    business = state.accounts.authenticate(public, secret)
    if business is None:
        return rejected(401, {"api_key": [v.INVALID_KEYS]})

    errors: dict[str, Any] = {}
    business_id = v.parse_int(fields["business"]) if fields.get("business") else None
    if business_id is None:
        errors["business"] = [v.REQUIRED if not fields.get("business") else v.NOT_INT]
    for name in ("sender_id", "template"):
        if name not in fields:
            errors[name] = [v.REQUIRED]
        elif not fields[name].strip():
            errors[name] = [v.BLANK]
    if len(fields.get("sender_id", "")) > v.MAX_SENDER_ID:
        errors["sender_id"] = [v.too_long(v.MAX_SENDER_ID)]
    if "csv_file" in form.files:
        if not form.files["csv_file"]:
            errors["csv_file"] = [v.EMPTY_FILE]
    else:
        errors["csv_file"] = [v.NOT_A_FILE if "csv_file" in fields else v.NO_FILE]
    scheduled = v.parse_bool(fields.get("scheduled", "false"))
    if scheduled is None:
        errors["scheduled"] = [v.NOT_BOOL]
    raw_time = fields.get("time_scheduled", "")
    time_scheduled = v.parse_datetime(raw_time) if raw_time else None
    if raw_time and time_scheduled is None:
        errors["time_scheduled"] = [v.BAD_DATETIME]
    if errors:
        return rejected(400, errors, business.id)
    if business_id != business.id:  # unknown, or not the keys' business
        return rejected(404, {"detail": v.NOT_FOUND}, business_id)

    now = state.clock.now()
    template = fields["template"].strip()
    sender, sender_error = pick_sender(fields["sender_id"].strip(), business.approved_sender_ids)
    if sender_error is not None:
        errors["sender_id"] = [sender_error]
    schedule_error = schedule(bool(scheduled), time_scheduled, now)
    if schedule_error is not None:
        errors["time_scheduled"] = [schedule_error]
    rows, csv_errors = read_csv(form.files["csv_file"], v.template_variables(template))
    messages: list[tuple[str, str]] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if len(csv_errors) >= MAX_ROW_ERRORS:
            break
        number = v.normalise_phone(row.get("contact", ""))
        text = v.render(template, row)
        if number is None:
            csv_errors.append(f"Row {line}: {v.invalid_phone(row.get('contact', ''))}")
        elif len(text) > v.MAX_MESSAGE:
            csv_errors.append(f"Row {line}: message longer than {v.MAX_MESSAGE} characters.")
        else:
            messages.append((text, number))
    if csv_errors:
        errors["csv_file"] = csv_errors
    if errors:
        return rejected(400, errors, business.id)
    assert sender is not None

    costs = [v.units(text) * business.price_per_unit for text, _ in messages]
    if sum(costs) > business.balance:
        return rejected(400, {"detail": v.INSUFFICIENT_BALANCE}, business.id)
    due = time_scheduled if scheduled and time_scheduled is not None else now
    ids = tuple(
        state.accept(business, text, sender, [number], cost=cost, now=now, due=due).id
        for (text, number), cost in zip(messages, costs, strict=True)
    )
    payload = {"recipients_count": len(messages), "status": "PROCESSING"}
    return Handled(responses.json(201, payload), 201, "accepted", business.id, ids, len(ids))
