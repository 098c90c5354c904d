"""The rules JSON Schema cannot express: numbers, templates, date-times, cost.

Pure functions over already schema-valid values; the Contract (decoder.py) strings them
together and decides which failure rejects the event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Final

from service.contract.masking import mask_phone
from service.contract.model import Estimate, FieldError, RejectedRecipient
from service.contract.phones import normalise_accepted, normalise_phone
from service.contract.segments import (
    PUSHR_UNIT_CHARS,
    SINGLE_GSM7,
    basic_segments,
    count_segments,
    is_gsm7_basic,
    pushr_units,
)

MAX_MESSAGE_CHARS: Final = 500
VARIABLE: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")


def normalise_recipients(
    items: Sequence[str], path: str = "/recipients"
) -> tuple[list[str], list[RejectedRecipient], int]:
    """(kept numbers in first-seen order, rejected ones masked, duplicates dropped)."""
    accepted = normalise_accepted(items)
    if accepted is not None:
        unique = dict.fromkeys(accepted)
        return list(unique), [], len(accepted) - len(unique)
    return recipients_one_by_one(items, path)


def recipients_one_by_one(
    items: Sequence[str], path: str = "/recipients"
) -> tuple[list[str], list[RejectedRecipient], int]:
    """The general path, number by number: any list the one-pass check does not accept."""
    kept: dict[str, None] = {}
    rejected: list[RejectedRecipient] = []
    duplicates = 0
    for index, raw in enumerate(items):
        number, reason = normalise_phone(raw)
        if number is None:
            rejected.append(RejectedRecipient(f"{path}/{index}", mask_phone(raw), str(reason)))
        elif number in kept:
            duplicates += 1
        else:
            kept[number] = None
    return list(kept), rejected, duplicates


def parse_timestamp(value: str, field: str) -> datetime | FieldError:
    """An aware UTC datetime; the schema has already checked the RFC 3339 shape."""
    text = value.strip()
    text = text[:10] + "T" + text[11:]
    text = text.upper()
    # Python keeps microseconds; RFC 3339 allows any number of fraction digits.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return FieldError(
                f"/{field}",
                "timezone_required",
                "must carry a UTC offset, e.g. 2025-01-20T14:30:00Z",
            )
        # Overflows for the first and last day of the calendar shifted by the offset.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return FieldError(
            f"/{field}", "invalid_datetime", "is not a real date-time (check day, hour, second)"
        )


def template_variables(template: str) -> list[str] | FieldError:
    """The template's variables in first-use order, or why the template cannot be rendered.

    Braces outside `{identifier}` are refused: Push.R's renderer is not documented, and a
    stray `{` or `{{name}}` would be rendered differently by a format-style and a
    replace-style engine, so the message actually sent could not be predicted.
    """
    rest = VARIABLE.sub("", template)
    if "{" in rest or "}" in rest:
        return FieldError(
            "/template",
            "stray_brace",
            "braces are only allowed around a variable name, like {name}",
        )
    return list(dict.fromkeys(VARIABLE.findall(template)))


def render(template: str, row: dict[str, str]) -> str:
    # One pass, so a value that itself contains `{x}` is never substituted again.
    return VARIABLE.sub(lambda m: row[m.group(1)], template)


def renderer(template: str) -> Callable[[dict[str, str]], str]:
    """`render` for one template and many rows: the template is scanned once, not per row.

    `VARIABLE.split` yields literal, name, literal, ..., literal, the same matches `render`
    substitutes, so each row's text is identical. The literals become one %-format (their
    own `%` doubled) filled from an itemgetter: a row is rendered without a Python step
    per variable.
    """
    parts = VARIABLE.split(template)
    names = parts[1::2]
    if not names:
        return lambda _row: template
    form = "%s".join(literal.replace("%", "%%") for literal in parts[0::2])
    values = itemgetter(*names)
    if len(names) == 1:
        return lambda row: form % (values(row),)
    return lambda row: form % values(row)


def check_message(text: str, path: str) -> FieldError | None:
    if not text.strip():
        return FieldError(path, "blank", "must contain more than whitespace")
    if len(text) > MAX_MESSAGE_CHARS:
        return FieldError(
            path, "too_long", f"is {len(text)} characters; Push.R takes at most {MAX_MESSAGE_CHARS}"
        )
    return None


def estimate(messages: Iterable[tuple[str, int]]) -> tuple[Estimate, tuple[str, ...]]:
    """Cost of (text, recipients) pairs, and the characters that forced UCS-2."""
    pairs = list(messages)
    if is_gsm7_basic("".join([text for text, _ in pairs])):
        # Template rows: one alphabet check for all texts, then lengths alone decide.
        units = sum([pushr_units(text) * count for text, count in pairs])
        segments = sum([basic_segments(len(text)) * count for text, count in pairs])
        return Estimate(units, segments, "GSM-7"), ()
    units = segments = 0
    ucs2 = False
    non_gsm: dict[str, None] = {}
    for text, count in pairs:
        seg = count_segments(text)
        units += pushr_units(text) * count
        segments += seg.segments * count
        if seg.encoding == "UCS-2":
            ucs2 = True
            non_gsm.update(dict.fromkeys(seg.non_gsm))
    return Estimate(units, segments, "UCS-2" if ucs2 else "GSM-7"), tuple(non_gsm)


def estimate_rows(texts: list[str]) -> tuple[Estimate, tuple[str, ...], tuple[int, ...]]:
    """`estimate` of one recipient per rendered row, and each row's units.

    Most rows fit one unit and one segment, which the shortest and the longest row decide
    for all of them at once.
    """
    lengths = list(map(len, texts))
    # every row one Push.R unit and, if all basic GSM-7, one segment
    one_each = min(lengths) > 0 and max(lengths) <= min(PUSHR_UNIT_CHARS, SINGLE_GSM7)
    row_units = (1,) * len(texts) if one_each else tuple(map(pushr_units, texts))
    if not is_gsm7_basic("".join(texts)):
        cost, non_gsm = estimate((text, 1) for text in texts)
        return cost, non_gsm, row_units
    segments = len(texts) if one_each else sum(map(basic_segments, lengths))
    return Estimate(sum(row_units), segments, "GSM-7"), (), row_units


def ucs2_warning(chars: Sequence[str]) -> str:
    shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars[:5])
    more = f" and {len(chars) - 5} more" if len(chars) > 5 else ""
    return (
        f"ucs2_forced: {shown}{more} not in the GSM-7 alphabet; the message is sent as UCS-2 "
        "(70 characters per segment instead of 160)"
    )
