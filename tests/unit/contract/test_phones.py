"""Ghana number rules (the spellings people use, the mobile ranges, what is not a mobile) and
the two policy decisions documented in schemas/README.md."""

from __future__ import annotations

import pytest

from service.contract.phones import (
    EMPTY,
    HAS_EXTENSION,
    INVALID_FORMAT,
    INVALID_NUMBER,
    NOT_GHANA,
    NOT_MOBILE,
    normalise_phone,
)


@pytest.mark.parametrize(
    "raw",
    [
        "0558544343",
        "+233558544343",
        "+233 55 854 4343",
        "00233558544343",
        "055-854-4343",
        "(055) 854 4343",
        # already in Push.R's format, and harmless variations
        "233558544343",
        "233 55 854 4343",
        "  0558544343  ",
        "055.854.4343",
        "+233 (0) 55 854 4343",
        # policy: nine digits (a spreadsheet dropped the 0) and a stray trunk 0 are accepted
        "558544343",
        "+2330558544343",
        "2330558544343",
    ],
)
def test_forms_of_the_same_number(raw: str) -> None:
    assert normalise_phone(raw) == ("233558544343", None)


@pytest.mark.parametrize(
    "raw",
    [
        # every Ghana mobile range, 055x/056x/059x/025x included
        "0201234567",
        "0231234567",
        "0241234567",
        "0261234567",
        "0271234567",
        "0281234567",
        "0291234567",
        "0256123456",
        "0257123456",
        "0501234567",
        "0531234567",
        "0541234567",
        "0551234567",
        "0561234567",
        "0571234567",
        "0591234567",
        "0599234567",
    ],
)
def test_mobile_ranges_are_accepted(raw: str) -> None:
    number, reason = normalise_phone(raw)
    assert reason is None
    assert number == "233" + raw[1:]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0302123456", NOT_MOBILE),  # Accra fixed line: valid, but no SMS
        ("0800100100", NOT_MOBILE),  # toll-free
        ("+44 7911 123456", NOT_GHANA),  # valid UK mobile
        ("00447911123456", NOT_GHANA),
        ("+1 202 555 0143", NOT_GHANA),
        ("0558544343 ext. 12", HAS_EXTENSION),
        ("+233558544343;ext=1", HAS_EXTENSION),
        ("055854434", INVALID_NUMBER),  # possible but not valid: is_possible is not enough
        ("0581234567", INVALID_NUMBER),  # 058 is not allocated
        ("0590234567", INVALID_NUMBER),  # 0590 is not a mobile range (0591-0599 are)
        ("0251234567", INVALID_NUMBER),  # 025 only as 0256/0257
        ("05585443430", INVALID_NUMBER),  # one digit too many
        ("", EMPTY),
        ("   ", EMPTY),
        ("call me", INVALID_FORMAT),
        ("055854434A", INVALID_FORMAT),  # libphonenumber would drop the letter silently
        ("1-800-FLOWERS", INVALID_FORMAT),
        ("tel:+233558544343", INVALID_FORMAT),
        ("0558544343x", INVALID_FORMAT),
        ("0" * 41, INVALID_FORMAT),
    ],
)
def test_rejections(raw: str, reason: str) -> None:
    assert normalise_phone(raw) == (None, reason)


def test_non_ascii_digits_come_out_ascii() -> None:
    assert normalise_phone("٠٥٥٨٥٤٤٣٤٣") == ("233558544343", None)
