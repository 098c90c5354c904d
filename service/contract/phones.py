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

Fast path: a full parse per number dominates the cost of a 10,000-recipient event. The shapes
producers send almost always (`233` + NSN, `+233` + NSN, `0` + NSN, the bare NSN, in ASCII
digits, NSN not starting with 0) are decided without parsing, by the same steps
libphonenumber takes (its type lookup order, possible lengths and national number patterns,
read from its GH metadata at import), so a metadata update still changes the answer. Every
other input goes through `phonenumbers`. For a whole list, `normalise_accepted` compiles the
same decisions into one regex and decides every number in one pass, with no Python step per
number; any number it does not accept sends the list back to the one-by-one path.
tests/unit/contract/test_phones_fast.py compares all three on generated numbers of every shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType

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
GHANA_CC_TEXT: Final = "233"
MAX_INPUT_CHARS: Final = 40
NORMALISED: Final = re.compile(r"233\d{9}")
_ALLOWED_CHARS: Final = re.compile(r"[\d\s+\-.()/]+")
_MOBILE_TYPES: Final = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _desc_matcher(desc: Any) -> tuple[frozenset[int], re.Pattern[str]] | None:
    """libphonenumber's `_is_number_matching_desc` as data: (possible lengths, pattern).

    No pattern means the type never matches; empty lengths mean "any length".
    """
    pattern = None if desc is None else desc.national_number_pattern
    if not pattern:
        return None
    return frozenset(desc.possible_length or ()), re.compile(pattern)


# libphonenumber's `_number_type_helper` order: the first non-mobile type to match wins
# before fixed line and mobile are looked at.
_OTHER_TYPES: Final = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _fast_plan() -> tuple[Any, ...] | None:
    """The GH metadata the fast path needs, or None when its assumptions no longer hold.

    The shape analysis in `_fast_normalise` relies on these properties of the GH plan; if an
    update breaks one, every number takes the full path instead of a wrong shortcut.
    """
    meta = PhoneMetadata.metadata_for_region("GH")
    if (
        meta is None
        or meta.country_code != GHANA_CC
        or phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(GHANA_CC) != ("GH",)
        or meta.international_prefix != "00"
        or meta.national_prefix_for_parsing != "0"
        or meta.national_prefix_transform_rule
        or meta.general_desc is None
        or max(meta.general_desc.possible_length or (0,)) != 9
    ):
        return None
    general = _desc_matcher(meta.general_desc)
    others = tuple(m for name in _OTHER_TYPES if (m := _desc_matcher(getattr(meta, name))))
    fixed = _desc_matcher(meta.fixed_line)
    mobile = _desc_matcher(meta.mobile)
    return general, others, fixed, mobile, bool(meta.same_mobile_and_fixed_line_pattern)


_PLAN: Final = _fast_plan()
# `[0-9]`, not `\d`: Unicode digits are the full path's business.
_FAST_SHAPE: Final = re.compile(r"(\+?233|0)?([1-9][0-9]{8})")


def _matches(desc: tuple[frozenset[int], re.Pattern[str]] | None, nsn: str) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


def _fast_normalise(text: str) -> tuple[str, None] | tuple[None, str] | None:
    """The full path's answer for a common shape, or None when the shape is not one of them.

    For these shapes `phonenumbers.parse(text, "GH")` yields country code 233 and exactly
    the 9 digits after the prefix as national number: `+233` is read as the country code;
    `0` is the trunk prefix (a second 0 would be the international prefix `00`, hence
    `[1-9]`); `233` + 9 digits is too long for a Ghana NSN, so the country code is stripped.
    A bare 9-digit string starting with `233` is left to the full path, where the decision
    between "country code" and "NSN" depends on the metadata. `_fast_plan` checks the
    metadata properties this reasoning needs (trunk prefix 0, international prefix 00,
    longest NSN 9 digits).
    """
    if _PLAN is None:
        return None
    shape = _FAST_SHAPE.fullmatch(text)
    if shape is None:
        return None
    prefix, nsn = shape.groups()
    if prefix is None and nsn.startswith("233"):
        return None
    general, others, fixed, mobile, same_pattern = _PLAN
    if not _matches(general, nsn):
        # Outside the plan, libphonenumber's prefix stripping can take other turns (keep the
        # trunk 0, read `233` as digits): let it decide.
        return None
    if any(_matches(desc, nsn) for desc in others):
        return None, NOT_MOBILE
    if _matches(fixed, nsn):
        if same_pattern or _matches(mobile, nsn):
            return GHANA_CC_TEXT + nsn, None
        return None, NOT_MOBILE
    if not same_pattern and _matches(mobile, nsn):
        return GHANA_CC_TEXT + nsn, None
    return None, INVALID_NUMBER


def _holds(desc: tuple[frozenset[int], re.Pattern[str]] | None) -> str | None:
    """`desc` as a lookahead body for a 9-digit NSN, or None when it never matches one."""
    if desc is None:
        return None
    lengths, pattern = desc
    if lengths and 9 not in lengths:
        return None
    return f"(?:{pattern.pattern})$"


def _accept_pattern() -> re.Pattern[str] | None:
    """`_fast_normalise`'s acceptances as one regex: a line is a fast-shape number the full
    path accepts; group 1 is its NSN.

    The same metadata, the same decisions, as lookaheads at the NSN: inside the general plan,
    none of the other types, then mobile (or fixed line when both share one pattern). The
    prefix alternatives leave a bare `233…` NSN to the full path, as `_fast_normalise` does.
    Matched line by line (MULTILINE), so a whole list is decided by one `findall`.
    """
    if _PLAN is None:
        return None
    general, others, fixed, mobile, same_pattern = _PLAN
    inside = _holds(general)
    accepted = _holds(fixed if same_pattern else mobile)
    if inside is None or accepted is None:
        return None
    excluded = "".join(f"(?!{body})" for desc in others if (body := _holds(desc)) is not None)
    return re.compile(
        rf"^(?:\+?233|0|(?!233))(?=[1-9][0-9]{{8}}$)(?={inside}){excluded}(?={accepted})"
        r"([0-9]{9})$",
        re.MULTILINE,
    )


_ACCEPT: Final = _accept_pattern()


def normalise_accepted(numbers: Sequence[str]) -> list[str] | None:
    """Every number in Push.R's form when each one is a fast-shape Ghana mobile number, else
    None (then decide them one by one with `normalise_phone`).

    One join, one regex pass, one join and one split for the whole list: a bulk event's per-number
    cost stays in C. Numbers with surrounding whitespace or a line break take the one-by-one
    path.
    """
    if _ACCEPT is None or not numbers:
        return None
    joined = "\n".join(numbers)
    nsns = _ACCEPT.findall(joined)
    if len(nsns) != len(numbers) or joined.count("\n") != len(numbers) - 1:
        return None
    # Joined and split again rather than "233" + nsn per number: no Python step per number.
    return (GHANA_CC_TEXT + ("\n" + GHANA_CC_TEXT).join(nsns)).split("\n")


def normalise_phone(raw: str) -> tuple[str, None] | tuple[None, str]:
    """`(number, None)` when `raw` is a Ghana mobile number, else `(None, reason_code)`."""
    fast = _fast_normalise(raw.strip())
    return fast if fast is not None else _normalise_full(raw)


@lru_cache(maxsize=65_536)
def _normalise_full(raw: str) -> tuple[str, None] | tuple[None, str]:
    """`normalise_phone` through `phonenumbers`: any input, at a full parse's cost.

    Cached: producers send the same numbers again and again.
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
