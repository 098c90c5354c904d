"""`redact_text`'s and `mask_numbers_in_text`'s shortcuts (short text, no `:`/`=`) give the
full regex passes' output."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.contract.masking import (
    _KEY_VALUE,
    _NUMBER_RUN,
    _redact_pair,
    mask_numbers_in_text,
    mask_phone,
    redact_text,
)


def reference_numbers(text: str) -> str:
    return _NUMBER_RUN.sub(lambda m: mask_phone(m.group(0)), text)


def reference_redact(text: str) -> str:
    return reference_numbers(_KEY_VALUE.sub(_redact_pair, text))


TEXT = st.text(alphabet=st.sampled_from("0123456789٣+ -.()/:=\"'ajtwokenpsx_,"), max_size=40)


@settings(max_examples=2000)
@given(TEXT)
@example("jwt=x")
@example("12345678")
@example("123456789")
@example("token: 233558544343")
@example("+233 55 854 4343")
def test_shortcuts_equal_the_full_passes(text: str) -> None:
    assert mask_numbers_in_text(text) == reference_numbers(text)
    assert redact_text(text) == reference_redact(text)
