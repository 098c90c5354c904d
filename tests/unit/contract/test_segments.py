"""Carrier segments and Push.R units: the GSM-7 and UCS-2 limits and the boundaries around
them."""

from __future__ import annotations

import math

import pytest

from service.contract.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments, pushr_units


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        # one part up to 160 GSM-7 / 70 UCS-2 units, then 153 / 67 per part
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("ç" * 70, "UCS-2", 70, 1),
        ("ç" * 71, "UCS-2", 71, 2),
        ("Pay GH₵ 50", "UCS-2", 10, 1),
        ("It\u2019s", "UCS-2", 4, 1),  # curly apostrophe
        # more
        ("", "GSM-7", 0, 0),
        ("a" * 459, "GSM-7", 459, 3),
        ("a" * 460, "GSM-7", 460, 4),
        ("€" * 81, "GSM-7", 162, 2),
        ("€" * 79 + "aa", "GSM-7", 160, 1),
        ("€" * 79 + "aaa", "GSM-7", 161, 2),
        ("{}[]~^|\\\f", "GSM-7", 18, 1),
        ("ΔΦΓΛΩΠΨΣΘΞ @£$¥èéùìòÇØøÅåÆæßÉ¤¡¿ÄÖÑÜ§äöñüà\n\r", "GSM-7", 44, 1),
        ("Ɛ ɔ", "UCS-2", 3, 1),
        ("a" * 67 + "ç" * 67, "UCS-2", 134, 2),
        ("a" * 67 + "ç" * 68, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 35 + "a", "UCS-2", 71, 2),
    ],
)
def test_segments(text: str, encoding: str, units: int, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == (encoding, units, segments)


def test_an_escape_pair_is_never_split_so_the_naive_count_is_wrong() -> None:
    text = "a" * 152 + "€" + "a" * 152  # 306 septets; the € cannot end segment 1
    assert count_segments(text).units == 306
    assert math.ceil(306 / 153) == 2
    assert count_segments(text).segments == 3


def test_a_surrogate_pair_is_never_split_so_the_naive_count_is_wrong() -> None:
    text = "ç" * 66 + "😀" + "ç" * 66  # 134 UTF-16 units; the emoji cannot end segment 1
    assert count_segments(text).units == 134
    assert math.ceil(134 / 67) == 2
    assert count_segments(text).segments == 3


def test_the_characters_that_force_ucs2_are_reported_once_in_order() -> None:
    assert count_segments("GH₵ It\u2019s GH₵ ok").non_gsm == ("₵", "\u2019")
    assert count_segments("plain").non_gsm == ()


def test_alphabet_sizes() -> None:
    # 128 table positions minus ESC; ten extension characters
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(
    ("text", "units"),
    [("a", 1), ("a" * 160, 1), ("a" * 161, 2), ("a" * 320, 2), ("a" * 500, 4), ("😀" * 160, 1)],
)
def test_pushr_units_count_characters_per_160(text: str, units: int) -> None:
    assert pushr_units(text) == units
