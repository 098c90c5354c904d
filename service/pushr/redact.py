"""Keep provider text safe to log and publish: no phone numbers, no keys.

Push.R's 400 bodies may echo recipients (and a careless server might echo a key), and a
`detail` travels into logs, result events and metrics. Numbers are masked by the
contract's masker, so a provider detail reads like every other output (`23355****343`).
"""

from __future__ import annotations

from collections.abc import Iterable

from service.contract.masking import mask_numbers_in_text

__all__ = ["mask_numbers_in_text", "safe_detail"]

_MAX_DETAIL = 200


def safe_detail(text: str, secrets: Iterable[str] = ()) -> str:
    """A short reason fit for logs: secrets replaced, numbers masked, length bounded."""
    for secret in secrets:
        # Short values would mangle ordinary words; real keys are long.
        if len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    text = mask_numbers_in_text(" ".join(text.split()))
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
