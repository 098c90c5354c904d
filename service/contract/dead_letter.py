"""Dead-letter records (schemas/dlq-record.v1.json) for messages that can never be sent.

The payload is kept so a human can see what was sent, but not as a leak: when it parses as
JSON, secret-named fields are dropped and number-like values masked before re-encoding;
when it does not, the same is done on the text as well as it can be (non-UTF-8 bytes are
kept as they were). `payload_sha256` and `payload_size` describe the original bytes, so the
producer can still match the record to its own copy.

With sealing keys (`DeadLetters(keys)`), the record also keeps the original record's key and
value sealed (`original_sealed`, see `service.contract.sealing`), which is what a replay
sends; without keys the record is exactly as before, and `original_of` says why a replay
cannot have the original.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

from service.contract.masking import mask_json, redact_text
from service.contract.model import Rejection, format_epoch
from service.contract.sealing import DlqKeys, SealError

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


class DeadLetters:
    """Builds the relay's dead-letter records; with `keys`, each keeps its original sealed.

    An original (key and value) over `max_payload_bytes` is not sealed (`original_sealed`
    null): sealed and base64-encoded beside the masked copy, it would pass Kafka's default
    1 MiB record limit.
    """

    def __init__(
        self, keys: DlqKeys | None = None, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    ) -> None:
        self._keys = keys
        self._max = max_payload_bytes

    def build(
        self,
        raw: bytes | None,
        *,
        key: bytes | None,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        rejection: Rejection,
        now: float,
    ) -> dict[str, Any]:
        record = build_dlq_record(
            raw,
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=timestamp_ms,
            rejection=rejection,
            now=now,
            max_payload_bytes=self._max,
        )
        if self._keys is not None:
            value = raw or b""
            fits = len(value) + len(key or b"") <= self._max
            record["original_sealed"] = (
                self._keys.seal(key, value, topic=topic, partition=partition, offset=offset)
                if fits
                else None
            )
        return record


def original_of(record: Mapping[str, Any], keys: DlqKeys | None) -> tuple[bytes | None, bytes]:
    """The original (key, value) of a dead letter; SealError says, in one line, why not."""
    if "original_sealed" not in record:
        raise SealError(
            "only a masked copy was kept: the relay that wrote it had no PUSHR_RELAY_DLQ_KEYS"
        )
    sealed = record["original_sealed"]
    if sealed is None:
        raise SealError(
            f"the original ({record.get('payload_size')} bytes) was larger than a dead letter "
            f"keeps ({DEFAULT_MAX_PAYLOAD_BYTES} bytes), so it was not sealed"
        )
    if keys is None:
        raise SealError(
            f"the original is sealed with key {sealed.get('key_id')!r}: set PUSHR_RELAY_DLQ_KEYS "
            "to the relay's keys to open it"
        )
    source = record["source"]
    return keys.open(
        sealed, topic=source["topic"], partition=source["partition"], offset=source["offset"]
    )
