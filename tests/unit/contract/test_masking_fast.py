"""`mask_phone`'s shortcut for plain 12-digit numbers gives the general rule's output."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.contract.masking import (
    _DIGIT,
    MASKED_PATTERN,
    MAX_LEAD,
    MAX_TRAIL,
    MIN_HIDDEN,
    mask_phone,
)


def reference(value: str) -> str:
    # The general rule as it stood before the shortcut.
    digits = "".join(str(int(d)) for d in _DIGIT.findall(value))
    n = len(digits)
    lead = min(MAX_LEAD, max(0, n - MAX_TRAIL - MIN_HIDDEN))
    trail = min(MAX_TRAIL, max(0, n - lead - MIN_HIDDEN))
    hidden = max(MIN_HIDDEN, n - lead - trail)
    plus = "+" if value.lstrip().startswith("+") else ""
    return f"{plus}{digits[:lead]}{'*' * hidden}{digits[n - trail :] if trail else ''}"


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789", min_size=10, max_size=14),
        st.builds(lambda t: "233" + t, st.text(alphabet="0123456789", min_size=9, max_size=9)),
        st.text(alphabet="0123456789+ -٠١٢٣²³０", min_size=0, max_size=14),
    )
)
@example("233558544343")
@example("23355854434²")  # isdigit() but not a decimal digit
@example("٢٣٣٥٥٨٥٤٤٣٤٣")  # Arabic-Indic digits: shown as ASCII by the general rule
def test_shortcut_equals_general_rule(value: str) -> None:
    masked = mask_phone(value)
    assert masked == reference(value)
    assert re.fullmatch(MASKED_PATTERN, masked)
