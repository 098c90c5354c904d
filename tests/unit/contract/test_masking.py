"""No full phone number and no secret leaves the contract, and the one scrubber behind
every output (logs, provider details, dead letters) speaks with one marker."""

from __future__ import annotations

import re

import orjson
import pytest

from service.contract.masking import (
    MASKED_PATTERN,
    MAX_DETAIL_CHARS,
    REDACTED,
    SecretValues,
    mask_json,
    mask_numbers_in_text,
    mask_phone,
    redact_secrets,
    redact_text,
    safe_detail,
    scrub_text,
)

KEY = "sk_live_abcdef123456"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("233558544343", "23355****343"),
        ("+233 55 854 4343", "+23355****343"),
        ("0558544343", "055****343"),
        ("558544343", "55****343"),
        ("+447911123456", "+44791****456"),
        ("12345", "****5"),
        ("12", "****"),
        ("", "****"),
        ("call me", "****"),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked
    assert re.fullmatch(MASKED_PATTERN, masked)


@pytest.mark.parametrize("digits", range(13))
def test_at_least_four_digits_are_always_hidden(digits: int) -> None:
    masked = mask_phone("9" * digits)
    assert masked.count("*") >= 4
    assert sum(c.isdigit() for c in masked) <= max(0, digits - 4)


@pytest.mark.parametrize(
    "text",
    [
        "call 0558544343 now",
        "call +233 55 854 4343 now",
        "call (055) 854-4343 now",
        "call 00233558544343 now",
        "call 233558544343",
    ],
)
def test_numbers_in_text_are_masked(text: str) -> None:
    masked = mask_numbers_in_text(text)
    assert "8544" not in masked.replace(" ", "").replace("-", "")
    assert masked.startswith("call ")


def test_short_numbers_in_text_are_kept() -> None:
    assert mask_numbers_in_text("order 4711 costs GHS 150.00") == "order 4711 costs GHS 150.00"


def test_redact_secrets_drops_secret_named_keys_at_any_depth() -> None:
    payload = {
        "api_key_public": "pub",
        "api_key_secret": "sec",
        "API_KEY": "x",
        "client_secret": "y",
        "password": "p",
        "token": "t",
        "nested": [{"access_token": "a", "keep": 1}],
        "message": "hello",
    }
    assert redact_secrets(payload) == {"nested": [{"keep": 1}], "message": "hello"}


def test_mask_json_masks_strings_keys_and_long_integers() -> None:
    payload = {"recipients": ["0558544343", 233558544343], "0241234567": True, "n": 42}
    assert mask_json(payload) == {
        "recipients": ["055****343", "23355****343"],
        "024****567": True,
        "n": 42,
    }


def test_redact_text_handles_broken_json() -> None:
    text = '{"api_key_secret": "s3cr3t", "recipients": ["0558544343"'
    out = redact_text(text)
    assert "s3cr3t" not in out
    assert "0558544343" not in out
    assert REDACTED in out


def test_mask_json_masks_the_digits_of_small_floats() -> None:
    # found by the chaos suite's hostile inputs: a float's fraction kept a full number
    masked = mask_json({"a": 0.0241234567, "b": 1.5, "c": [0.0558544343]})
    assert masked["b"] == 1.5
    assert "0241234567" not in str(masked["a"])
    assert "0558544343" not in str(masked["c"][0])
    assert re.search(r"\d{9,}", orjson.dumps(masked).decode()) is None


def test_secret_values_are_cut_out_whole_and_short_ones_ignored() -> None:
    # "abcdef123456" is inside KEY: cutting it first would leave "sk_live_" behind
    secrets = SecretValues(["abcdef123456", KEY, "short"])
    assert secrets.cut(f"key={KEY}, also abcdef123456") == f"key={REDACTED}, also {REDACTED}"
    assert secrets.cut("a short word") == "a short word"
    assert SecretValues().cut(KEY) == KEY


def test_scrub_text_cuts_values_blanks_secret_pairs_and_masks_numbers() -> None:
    out = scrub_text(f"to 0558544343 with {KEY}; password=hunter22", SecretValues([KEY]))
    assert out == f'to 055****343 with {REDACTED}; password="{REDACTED}"'


def test_safe_detail_cuts_secrets_masks_numbers_and_keeps_field_names() -> None:
    detail = safe_detail(f"api_key: Invalid key {KEY}\n for  233558544343", [KEY])
    assert detail == f"api_key: Invalid key {REDACTED} for 23355****343"


def test_safe_detail_is_bounded() -> None:
    detail = safe_detail("x" * 1000)
    assert len(detail) == MAX_DETAIL_CHARS
    assert detail.endswith("…")
    assert safe_detail("x" * MAX_DETAIL_CHARS) == "x" * MAX_DETAIL_CHARS
