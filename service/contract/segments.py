"""How carriers split a message into segments (GSM 03.38 / UCS-2), and what Push.R charges.

Push.R and the carriers count differently, so both are reported: Push.R bills
`ceil(characters / 160)` units per recipient whatever the alphabet; carriers bill segments,
which depend on the encoding and shrink to 153 septets / 67 UTF-16 units once a message
needs a concatenation header.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet, in table order. ESC (0x1B) is left out: it only introduces an
# extension character and is never a character of its own. 0x09 is the capital C-cedilla of
# the standard; the small `ç` is not GSM-7, so 70 of them make one UCS-2 segment.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each takes an escape septet plus its own, so two septets.
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
GSM7_ALL: Final = GSM7_BASIC | GSM7_EXTENSION

SINGLE_GSM7: Final = 160
MULTI_GSM7: Final = 153
SINGLE_UCS2: Final = 70
MULTI_UCS2: Final = 67
PUSHR_UNIT_CHARS: Final = 160


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    non_gsm: tuple[str, ...]  # distinct characters that forced UCS-2, first-seen order


# Deletes every basic character: a text is all basic exactly when nothing is left. For
# ASCII text `str.translate` runs from a cached table, several times faster than a set scan.
_WITHOUT_BASIC: Final = {ord(ch): None for ch in GSM7_BASIC}


def is_gsm7_basic(text: str) -> bool:
    """Every character is a one-septet character of the default alphabet."""
    return not text.translate(_WITHOUT_BASIC)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_ALL for ch in text)


def _widths(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(widths: list[int], per_segment: int) -> int:
    # Greedy packing: an escape pair or a surrogate pair never straddles two segments, so a
    # segment may end one unit short; that is why ceil(units / 153) undercounts.
    segments, used = 1, 0
    for width in widths:
        if used + width > per_segment:
            segments += 1
            used = 0
        used += width
    return segments


def basic_segments(length: int) -> int:
    """Segments of a text of `length` one-septet basic characters (no escape pairs)."""
    return 0 if length == 0 else 1 if length <= SINGLE_GSM7 else -(-length // MULTI_GSM7)


def count_segments(text: str) -> SegmentCount:
    if is_gsm7_basic(text):
        # Called once per rendered template row: when every character is a one-septet basic
        # character no pair can straddle a boundary, so greedy packing is plain division.
        return SegmentCount("GSM-7", len(text), basic_segments(len(text)), ())
    non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_ALL))
    encoding: Encoding = "UCS-2" if non_gsm else "GSM-7"
    widths = _widths(text, encoding)
    units = sum(widths)
    single, multi = (SINGLE_GSM7, MULTI_GSM7) if encoding == "GSM-7" else (SINGLE_UCS2, MULTI_UCS2)
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = _pack(widths, multi)
    return SegmentCount(encoding, units, segments, non_gsm)


def pushr_units(text: str) -> int:
    """Push.R's units for one recipient: 160 characters (code points) per unit."""
    return math.ceil(len(text) / PUSHR_UNIT_CHARS)
