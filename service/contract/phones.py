"""Ghana mobile numbers to Push.R's `233XXXXXXXXX` (country code + 9-digit NSN, no `+`).

libphonenumber (region GH) does the parsing and holds the numbering plan, so new mobile
ranges arrive with a dependency update rather than a code change. On top of it:

- Only Ghana (country code 233), only numbers `is_valid_number` accepts, and only MOBILE or
  FIXED_LINE_OR_MOBILE: a valid landline (`0302…`) or toll-free (`0800…`) number cannot
  receive an SMS, and `is_possible_number` alone lets `055854434` through.
- A number with an extension is rejected: E.164 has no place for it, so sending would
  silently drop it.
- Letters are rejected: libphonenumber would turn vanity letters into digits or ignore a
  trailing one, and either way the producer meant something else.
- `558544343` (nine digits, the leading 0 lost in a spreadsheet) is ACCEPTED: with region
  GH it is read as the national significant number, and it still has to be a valid Ghana
  mobile number, so no other country's number can slip in this way.
- `+2330558544343` / `2330558544343` (a trunk 0 kept after the country code) is ACCEPTED:
  libphonenumber drops Ghana's national prefix there; the result is the same nine digits,
  again checked for validity and type.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

# Per-recipient rejection codes (stable: they appear in outputs and metrics).
EMPTY: Final = "empty"
INVALID_FORMAT: Final = "invalid_format"
HAS_EXTENSION: Final = "has_extension"
NOT_GHANA: Final = "not_ghana"
INVALID_NUMBER: Final = "invalid_number"
NOT_MOBILE: Final = "not_mobile"

REASON_TEXT: Final = {
    EMPTY: "empty phone number",
    INVALID_FORMAT: "not a phone number (unexpected characters or layout)",
    HAS_EXTENSION: "phone number has an extension, which SMS cannot reach",
    NOT_GHANA: "not a Ghana (+233) number",
    INVALID_NUMBER: "not a valid Ghana number",
    NOT_MOBILE: "not a mobile number (landline, toll-free or other service)",
}

GHANA_CC: Final = 233
MAX_INPUT_CHARS: Final = 40
NORMALISED: Final = re.compile(r"233\d{9}")
_ALLOWED_CHARS: Final = re.compile(r"[\d\s+\-.()/]+")
_MOBILE_TYPES: Final = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


@lru_cache(maxsize=65_536)
def normalise_phone(raw: str) -> tuple[str, None] | tuple[None, str]:
    """`(number, None)` when `raw` is a Ghana mobile number, else `(None, reason_code)`.

    Cached: producers send the same numbers again and again, and parsing is ~20 µs.
    """
    text = raw.strip()
    if not text:
        return None, EMPTY
    if len(text) > MAX_INPUT_CHARS:
        return None, INVALID_FORMAT
    try:
        number = phonenumbers.parse(text, "GH")
    except NumberParseException:
        return None, INVALID_FORMAT
    if number.extension:
        return None, HAS_EXTENSION
    if not _ALLOWED_CHARS.fullmatch(text):
        return None, INVALID_FORMAT
    if number.country_code != GHANA_CC:
        return None, NOT_GHANA
    if not phonenumbers.is_valid_number(number):
        return None, INVALID_NUMBER
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None, NOT_MOBILE
    normalised = f"{GHANA_CC}{number.national_number}"
    if not NORMALISED.fullmatch(normalised):
        return None, INVALID_NUMBER
    return normalised, None
