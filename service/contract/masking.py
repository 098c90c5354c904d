"""Keep full phone numbers and secrets out of every output: logs, errors, events, dead letters.

The one scrubber of the relay; the log processor (`service.observability.logging`) and the
Push.R detail cleaner (`safe_detail`) are thin users of it. It knows three things:

- **Numbers.** A masked number keeps at most the first 5 and the last 3 digits and always
  hides at least 4, so `233558544343` becomes `23355****343`: enough to tell numbers apart
  in a support conversation, not enough to dial one.
- **Secret-named keys** (api_key*, *secret*, *password*, *token*, authorization, jwt,
  cookie): their values are dropped from JSON, or replaced by `REDACTED` in text and logs.
- **Secret values** (the configured API keys and JWT, `SecretValues`): cut out of any text
  and replaced by `REDACTED`, wherever they appear.

`REDACTED` is the one marker, in logs, details and dead letters alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

MIN_HIDDEN: Final = 4
MAX_LEAD: Final = 5
MAX_TRAIL: Final = 3

# A run of at least 9 digits, optionally led by `+` and split by short runs of the
# separators people type. Each repetition must consume a digit, so matching stays linear.
_NUMBER_RUN: Final = re.compile(r"\+?\d(?:[ \-.()/]{0,3}\d){8,}")
_DIGIT: Final = re.compile(r"\d")
# The shortest text `_NUMBER_RUN` can match: nine digits, nothing between them.
MIN_RUN_CHARS: Final = 9

# Key names that carry credentials, matched case-insensitively on the whole key.
_SECRET_KEY: Final = re.compile(
    r"^(?:api_?key.*|.*secret.*|.*passw(?:or)?d.*|.*token.*|authorization|jwt|cookie)$",
    re.IGNORECASE,
)
# `key: value` / `"key": "value"` / `key=value` in text that is not (valid) JSON; whether the
# key is secret is decided by `is_secret_key`. The lookbehind makes a key start only at a
# word start: without it `\w+` retried from every position of a long word, so the time
# grew with the square of the word's length — a cheap way to stall the DLQ path or the logger.
_KEY_VALUE: Final = re.compile(
    r"""(?<![\w"'])(["']?)(\w+)(["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s,;&}\]]+)"""
)
REDACTED: Final = "[REDACTED]"
MASKED_PATTERN: Final = r"^\+?[0-9]{0,5}\*{4,}[0-9]{0,3}$"
# Shorter configured values would mangle ordinary words; real keys and tokens are long.
MIN_SECRET_CHARS: Final = 6
# A provider detail travels into logs, result events and metrics: keep it short.
MAX_DETAIL_CHARS: Final = 200


def mask_phone(value: str) -> str:
    """Mask the digits of `value` (any formatting); the result matches MASKED_PATTERN."""
    if len(value) == 12 and value.isascii() and value.isdigit():
        # Every result event masks 100 canonical `233XXXXXXXXX` numbers: for 12 plain
        # digits the general rule below comes to 5 shown, 4 hidden, 3 shown.
        return f"{value[:MAX_LEAD]}****{value[-MAX_TRAIL:]}"
    digits = "".join(_DIGIT.findall(value))
    # Unicode digits (e.g. Arabic-Indic) count as digits but are shown as ASCII.
    digits = "".join(str(int(d)) for d in digits)
    n = len(digits)
    lead = min(MAX_LEAD, max(0, n - MAX_TRAIL - MIN_HIDDEN))
    trail = min(MAX_TRAIL, max(0, n - lead - MIN_HIDDEN))
    hidden = max(MIN_HIDDEN, n - lead - trail)
    plus = "+" if value.lstrip().startswith("+") else ""
    return f"{plus}{digits[:lead]}{'*' * hidden}{digits[n - trail :] if trail else ''}"


def mask_numbers_in_text(text: str) -> str:
    """Mask every phone-number-like run (≥ 9 digits) in free text."""
    if len(text) < MIN_RUN_CHARS:
        return text  # most log values and event fields: not worth a regex pass
    return _NUMBER_RUN.sub(lambda m: mask_phone(m.group(0)), text)


def _redact_pair(match: re.Match[str]) -> str:
    if not is_secret_key(match.group(2)):
        return match.group(0)
    return f'{match.group(1)}{match.group(2)}{match.group(3)}"{REDACTED}"'


def redact_text(text: str) -> str:
    """Best effort for text that did not parse: blank secret-looking pairs, mask numbers."""
    if ":" in text or "=" in text:  # every pair has one; without, the pass changes nothing
        text = _KEY_VALUE.sub(_redact_pair, text)
    return mask_numbers_in_text(text)


def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.match(key) is not None


def redact_secrets(obj: Any) -> Any:
    """A copy of a JSON value without secret-named keys, at any depth."""
    if isinstance(obj, dict):
        return {k: redact_secrets(v) for k, v in obj.items() if not is_secret_key(str(k))}
    if isinstance(obj, list):
        return [redact_secrets(v) for v in obj]
    return obj


def mask_json(obj: Any) -> Any:
    """A copy of a JSON value with secrets dropped and number-like strings/keys masked.

    Numbers of 9+ digits become masked strings, and so do floats whose digits hold such a
    run: a phone number sent as a JSON number is still a phone number, and a dead letter is
    for reading, not for replaying as is.
    """
    if isinstance(obj, dict):
        return {
            mask_numbers_in_text(str(k)): mask_json(v)
            for k, v in obj.items()
            if not is_secret_key(str(k))
        }
    if isinstance(obj, list):
        return [mask_json(v) for v in obj]
    if isinstance(obj, str):
        return mask_numbers_in_text(obj)
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int | float) and abs(obj) >= 100_000_000:
        return mask_phone(f"{obj:.0f}")
    if isinstance(obj, float):
        # A small float can still spell a number in its digits (0.0241234567).
        text = repr(obj)
        masked = mask_numbers_in_text(text)
        return obj if masked == text else masked
    return obj


class SecretValues:
    """Configured secret values (API keys, JWT) to cut out of any text.

    Longest first, so a secret containing another is cut out whole; values shorter than
    `MIN_SECRET_CHARS` are ignored (see there).
    """

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values = tuple(
            sorted({v for v in values if len(v) >= MIN_SECRET_CHARS}, key=len, reverse=True)
        )

    def cut(self, text: str) -> str:
        for secret in self._values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def scrub_text(text: str, secrets: SecretValues) -> str:
    """Free text made safe for any output: secret values cut out, secret-looking pairs
    blanked, numbers masked."""
    return redact_text(secrets.cut(text))


def safe_detail(text: str, secrets: Iterable[str] = ()) -> str:
    """A provider's reason fit for logs and events: secret values cut out, numbers masked,
    whitespace collapsed, length bounded. Secret-named pairs are kept: Push.R names the
    field it refuses (`api_key: Invalid or inactive API keys.`), which is the point."""
    text = SecretValues(secrets).cut(text)
    text = mask_numbers_in_text(" ".join(text.split()))
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"
