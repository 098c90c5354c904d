"""The fast path of `normalise_phone` gives the full (phonenumbers) path's answer, always.

The fast path reads libphonenumber's metadata instead of parsing, and so does the whole-list
regex (`normalise_accepted`) built from the same metadata; these tests hold both to the same
output and rejection reason over every shape it claims, nearby shapes it must
leave alone, and lengths 8 to 13.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.contract import phones
from service.contract.phones import normalise_phone


def full(raw: str) -> tuple[str, None] | tuple[None, str]:
    # Uncached, so no earlier call (fast or not) can colour the answer.
    return phones._normalise_full.__wrapped__(raw)


def same_answer(raw: str) -> None:
    expected = full(raw)
    fast = phones._fast_normalise(raw.strip())
    assert fast is None or fast == expected, (fast, expected)
    assert normalise_phone(raw) == expected
    # The whole-list regex accepts exactly what the fast path accepts (on the unstripped
    # text: surrounding whitespace is left to the one-by-one path), with the same number.
    unstripped = phones._fast_normalise(raw)
    bulk = phones.normalise_accepted([raw])
    assert bulk == (None if unstripped is None or unstripped[0] is None else [expected[0]])


# Leads that hit every GH type and the gaps between them: mobile (20, 23-29, 256/257, 50,
# 53-57, 591-599), fixed lines (30x, 31x...), toll-free 800, unassigned (1, 4, 6, 7, 9,
# 51, 52, 58, 590, 250), and zeros that libphonenumber reads as trunk or international prefix.
MOBILE = ["20", "23", "24", "256", "257", "26", "27", "28", "29", "50", "53", "55", "57", "591"]
FIXED = ["3", "30", "302", "303", "31", "318", "32", "33", "34", "35", "37", "38", "39"]
OTHER = ["800", "80", "8", "1", "4", "6", "7", "9", "25", "250", "255", "258", "5", "51", "52"]
EDGES = ["", "0", "00", "2", "58", "59", "590", "599", "233", "2330"]
LEADS = MOBILE + FIXED + OTHER + EDGES
PREFIXES = ["", "0", "233", "+233", "00233", "2330", "+2330", "+", "00", "0233", "+0"]

digits = st.text(alphabet="0123456789", min_size=0, max_size=13)
number_like = st.builds(
    lambda prefix, lead, tail, total: (prefix + lead + tail)[: len(prefix) + total],
    st.sampled_from(PREFIXES),
    st.sampled_from(LEADS),
    digits,
    st.integers(min_value=8, max_value=13),
)


@settings(max_examples=3000, deadline=None)
@given(number_like)
@example("0558544343")
@example("233558544343")
@example("+233558544343")
@example("558544343")
@example("233558544")  # 9 digits starting with 233: left to the full path
@example("0302123456")  # fixed line
@example("0800100100")  # toll-free, 9-digit NSN
@example("080010010")  # toll-free, 8-digit NSN
@example("0250123456")  # 025 outside 0256/0257
def test_fast_equals_full_on_generated_numbers(raw: str) -> None:
    same_answer(raw)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["", " ", "\t", "\u00a0", "\u2003"]),
    number_like,
    st.sampled_from(["", " ", "\n", "\u3000"]),
)
def test_fast_equals_full_with_surrounding_whitespace(left: str, raw: str, right: str) -> None:
    same_answer(left + raw + right)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789+ -()٠١٢٣٤٥٦٧٨٩０１２３", min_size=0, max_size=16))
def test_fast_equals_full_on_other_characters(raw: str) -> None:
    same_answer(raw)


def test_fast_equals_full_for_every_four_digit_lead() -> None:
    # Exhaustive over the first four NSN digits, which is where GH's types differ, in every
    # fast shape and at the edge lengths.
    for lead in range(10_000):
        nsn = f"{lead:04d}54343"
        for raw in (nsn, "0" + nsn, "233" + nsn, "+233" + nsn, nsn[:8], "0" + nsn[:8]):
            same_answer(raw)


def test_the_fast_path_is_taken_for_the_common_shapes() -> None:
    # Without the metadata plan every number would silently fall back to the slow path.
    assert phones._PLAN is not None
    for raw in ("0558544343", "233558544343", "+233558544343", "558544343", "0302123456"):
        assert phones._fast_normalise(raw) is not None, raw
    assert phones._ACCEPT is not None
    assert phones.normalise_accepted(["0558544343", "+233558544343"]) == ["233558544343"] * 2
