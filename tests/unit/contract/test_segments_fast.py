"""`count_segments`' shortcut for plain GSM-7 text gives the general packing's answer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.contract import segments
from service.contract.segments import GSM7_ALL, GSM7_BASIC, SegmentCount, count_segments


def reference(text: str) -> SegmentCount:
    # The general rule as it stood before the shortcut.
    non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_ALL))
    encoding: segments.Encoding = "UCS-2" if non_gsm else "GSM-7"
    widths = segments._widths(text, encoding)
    units = sum(widths)
    single, multi = (160, 153) if encoding == "GSM-7" else (70, 67)
    if units == 0:
        count = 0
    elif units <= single:
        count = 1
    else:
        count = segments._pack(widths, multi)
    return SegmentCount(encoding, units, count, non_gsm)


basic = "".join(sorted(GSM7_BASIC))


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=basic, max_size=500),
        st.text(alphabet=basic + "€{}[]", max_size=500),
        st.text(alphabet=basic + "ç₵ɛ\u2019😀", max_size=200),
    )
)
def test_shortcut_equals_general_rule(text: str) -> None:
    assert count_segments(text) == reference(text)


@pytest.mark.parametrize("n", [0, 1, 152, 153, 154, 159, 160, 161, 305, 306, 307, 459, 460, 500])
def test_boundaries(n: int) -> None:
    for text in ("a" * n, "a" * (n - 1) + "€" if n else ""):
        assert count_segments(text) == reference(text)
