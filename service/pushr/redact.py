"""Keep provider text safe to log and publish: no phone numbers, no keys.

Push.R's 400 bodies may echo recipients (and a careless server might echo a key), and a
`detail` travels into logs, result events and metrics. A local stand-in until
`service.contract.masking.mask_numbers_in_text` exists; both mask the same way
(`23355****343`), so swapping the import changes nothing visible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Seven or more digits, optionally led by `+` and broken by single spaces, dashes, dots or
# brackets: every way a phone number is written, and long ids too (masking those is harmless).
_NUMBER = re.compile(r"\+?\d(?:[ \-.()]?\d){6,}")
_MAX_DETAIL = 200


def _mask(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return f"{digits[: len(digits) - 7]}****{digits[-3:]}"


def mask_numbers_in_text(text: str) -> str:
    """Mask the middle of every phone-number-like run of digits."""
    return _NUMBER.sub(_mask, text)


def safe_detail(text: str, secrets: Iterable[str] = ()) -> str:
    """A short reason fit for logs: secrets replaced, numbers masked, length bounded."""
    for secret in secrets:
        # Short values would mangle ordinary words; real keys are long.
        if len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    text = mask_numbers_in_text(" ".join(text.split()))
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
