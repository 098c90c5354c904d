"""Dead-letter records (schemas/dlq-record.v1.json) for messages that can never be sent.

The payload is kept so a human can see what was sent, but not as a leak: when it parses as
JSON, secret-named fields are dropped and number-like values masked before re-encoding;
when it does not, the same is done on the text as well as it can be (non-UTF-8 bytes are
kept as they were). `payload_sha256` and `payload_size` describe the original bytes, so the
producer can still match the record to its own copy.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Final

import orjson

from service.contract.masking import mask_json, redact_text
from service.contract.model import Rejection, format_epoch

SCHEMA_VERSION: Final = 1
# Base64 grows a payload by a third and Kafka's default message limit is 1 MiB, so a record
# carries at most this many payload bytes; the rest is cut (payload_truncated).
DEFAULT_MAX_PAYLOAD_BYTES: Final = 256 * 1024


def masked_payload(raw: bytes) -> bytes:
    """The payload with secrets removed and numbers masked (see the module docstring)."""
    try:
        parsed = orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
        masked = mask_json(parsed)
        # Nothing to hide: keep the producer's exact bytes rather than a re-serialisation.
        return raw if masked == parsed else orjson.dumps(masked)
    except (orjson.JSONDecodeError, RecursionError, TypeError):
        # Not JSON, or nested deeper than Python or orjson will walk: treat it as text.
        text = raw.decode("utf-8", errors="surrogateescape")
        return redact_text(text).encode("utf-8", errors="surrogateescape")


def build_dlq_record(
    raw: bytes | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    rejection: Rejection,
    now: float,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> dict[str, Any]:
    """A DLQ record for one rejected message; `now` is epoch seconds from the caller's clock."""
    original = raw or b""
    payload = masked_payload(original) if original else b""
    masked = payload != original
    truncated = len(payload) > max_payload_bytes
    payload = payload[:max_payload_bytes]
    return {
        "type": "dead_letter",
        "schema_version": SCHEMA_VERSION,
        "reason": rejection.reason,
        "errors": [e.to_json_dict() for e in rejection.errors],
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            # Kafka reports -1 when a record has no timestamp.
            "timestamp": format_epoch(timestamp_ms / 1000)
            if timestamp_ms is not None and timestamp_ms >= 0
            else None,
        },
        "event_id": rejection.event_id,
        "payload_base64": base64.b64encode(payload).decode("ascii"),
        "payload_masked": masked,
        "payload_truncated": truncated,
        "payload_sha256": hashlib.sha256(original).hexdigest(),
        "payload_size": len(original),
        "dead_lettered_at": format_epoch(now),
    }
