"""Field rules shared by the send endpoints, with Django REST Framework's wording.

The sandbox checks number *format* only (`233` + 9 digits, optional `+`), as a server
would; validity of ranges is the relay's own validator's job.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

MAX_MESSAGE = 500
MAX_SENDER_ID = 11
UNIT_CHARS = 160

# DRF's own messages, so that clients written against Push.R parse the same text.
REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NULL = "This field may not be null."
NOT_STRING = "Not a valid string."
NOT_BOOL = "Must be a valid boolean."
NOT_INT = "A valid integer is required."
EMPTY_LIST = "This list may not be empty."
NO_FILE = "No file was submitted."
NOT_A_FILE = "The submitted data was not a file. Check the encoding type on the form."
EMPTY_FILE = "The submitted file is empty."
BAD_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
INVALID_KEYS = "Invalid or inactive API keys."
NO_CREDENTIALS = "Authentication credentials were not provided."
INSUFFICIENT_BALANCE = "Insufficient balance to send messages."
NOT_FOUND = "Not found."
SCHEDULE_REQUIRED = "This field is required when scheduled is true."
SCHEDULE_PAST = "Scheduled time must be in the future."
SENDER_NOT_APPROVED = "Sender ID is not approved for this business."
NO_APPROVED_SENDER = "No approved sender ID found for this business."


def too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


def expected_list(value: object) -> str:
    return f'Expected a list of items but got type "{type(value).__name__}".'


# True == 1 and False == 0, so the ints 1 and 0 are members too (as in DRF).
_TRUE = frozenset({True, "true", "True", "TRUE", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({False, "false", "False", "FALSE", "0", "no", "off", "f", "n", ""})


def mask(value: str) -> str:
    """First 5 and last 3 characters, the middle starred: `23355****343`.

    At least four are always hidden, so a short number (`055****343`) is not given away.
    """
    if len(value) < 8:
        return "*" * len(value)
    prefix = min(5, len(value) - 7)
    return value[:prefix] + "*" * min(len(value) - prefix - 3, 12) + value[-3:]


def normalise_phone(value: object) -> str | None:
    """`233XXXXXXXXX` or `+233XXXXXXXXX` -> `233XXXXXXXXX`; anything else -> None."""
    if type(value) is not str:
        return None
    if len(value) == 12:
        if value.startswith("233") and value.isdigit() and value.isascii():
            return value
        return None
    if len(value) == 13 and value.startswith("+233"):
        digits = value[1:]
        if digits.isdigit() and digits.isascii():
            return digits
    return None


def invalid_phone(value: object) -> str:
    shown = mask(value) if isinstance(value, str) else mask(str(value))
    return f"Invalid phone number: {shown}"


def units(message: str) -> int:
    """Push.R's unit rule: ceil(characters / 160), at least one."""
    return max(1, -(-len(message) // UNIT_CHARS))


def parse_bool(value: object) -> bool | None:
    if isinstance(value, (bool, int, str)):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    return None


def parse_datetime(value: object) -> float | None:
    """ISO 8601 -> epoch seconds; naive times are UTC (Push.R runs on Africa/Accra, UTC+0)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def coerce_string(value: object) -> str | None:
    """DRF's CharField: strings, and numbers turned into strings; nothing else."""
    if type(value) is str:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


_VARIABLE = re.compile(r"\{(\w+)\}")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def template_variables(template: str) -> list[str]:
    """Variable names in first-seen order (`{name}`; no format specs or attribute access)."""
    seen: dict[str, None] = {}
    for name in _VARIABLE.findall(template):
        seen.setdefault(name, None)
    return list(seen)


def render(template: str, row: dict[str, str]) -> str:
    # A regex substitution rather than str.format: a CSV cannot reach attributes or specs.
    return _VARIABLE.sub(lambda m: row.get(m.group(1), m.group(0)), template)
