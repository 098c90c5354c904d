"""The original of a dead letter, sealed so that only key holders can replay it.

A dead letter's readable copy is masked (numbers, secrets), so it cannot be sent again. With
keys configured (`PUSHR_RELAY_DLQ_KEYS`), the record also carries the original record's key
and value sealed with AES-256-GCM: readable by anyone holding a key, tamper-evident for all.

- **Rotation.** Keys are named (`KEY_ID:BASE64`, comma-separated); one is current
  (`PUSHR_RELAY_DLQ_KEY_ID`, default the first) and seals new records, which name it. Any key
  in the set opens the records that name it: add the new key as current, and drop the old one
  once its records have left the DLQ topic (its retention).
- **Binding.** The associated data names the record's source coordinates and the key id, so a
  sealed original copied into another record does not open there.
- **Framing.** The plaintext is the record key's length (4 bytes, big-endian; -1 for none),
  the key, then the value: one seal for both, since a replay needs the key for partitioning.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM: Final = "AES-256-GCM"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
KEY_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_NO_KEY: Final = -1
_LENGTH: Final = struct.Struct(">i")


class SealError(Exception):
    """A sealed original that cannot be opened: one line for an operator, never a key."""


def associated_data(key_id: str, topic: str, partition: int, offset: int) -> bytes:
    return f"pushr-relay/dlq/v1|{key_id}|{topic}|{partition}|{offset}".encode()


def frame(key: bytes | None, value: bytes) -> bytes:
    if key is None:
        return _LENGTH.pack(_NO_KEY) + value
    return _LENGTH.pack(len(key)) + key + value


def unframe(plaintext: bytes) -> tuple[bytes | None, bytes]:
    if len(plaintext) < _LENGTH.size:
        raise SealError("the sealed original is shorter than its framing")
    (length,) = _LENGTH.unpack_from(plaintext)
    body = plaintext[_LENGTH.size :]
    if length == _NO_KEY:
        return None, body
    if not 0 <= length <= len(body):
        raise SealError("the sealed original's framing names a key longer than the record")
    return body[:length], body[length:]


@dataclass(frozen=True, slots=True)
class DlqKeys:
    """The configured keys by id, and the id of the one that seals."""

    keys: Mapping[str, bytes]
    current: str

    @classmethod
    def parse(cls, text: str, current: str | None) -> DlqKeys:
        """From `KEY_ID:BASE64[,KEY_ID:BASE64...]`; errors name settings and ids, never keys."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep or not KEY_ID_PATTERN.match(key_id):
                raise ValueError(
                    "PUSHR_RELAY_DLQ_KEYS: each entry is KEY_ID:BASE64, the id of letters, "
                    "digits, '.', '_' or '-' (at most 64)"
                )
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"PUSHR_RELAY_DLQ_KEYS: key {key_id!r} is not {KEY_BYTES} bytes of base64 "
                    "(AES-256); make one with `openssl rand -base64 32`"
                )
            if key_id in keys:
                raise ValueError(f"PUSHR_RELAY_DLQ_KEYS: key id {key_id!r} is given twice")
            keys[key_id] = key
        if not keys:
            raise ValueError("PUSHR_RELAY_DLQ_KEYS is set but names no key")
        chosen = current or next(iter(keys))
        if chosen not in keys:
            raise ValueError(
                f"PUSHR_RELAY_DLQ_KEY_ID: {chosen!r} is not one of the ids in PUSHR_RELAY_DLQ_KEYS"
            )
        return cls(keys=keys, current=chosen)

    def secrets(self) -> list[str]:
        """The keys as configured (base64), for the log scrubber."""
        return [base64.b64encode(key).decode("ascii") for key in self.keys.values()]

    def seal(
        self, key: bytes | None, value: bytes, *, topic: str, partition: int, offset: int
    ) -> dict[str, Any]:
        nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: never one twice under a key
        aad = associated_data(self.current, topic, partition, offset)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, frame(key, value), aad)
        return {
            "alg": ALGORITHM,
            "key_id": self.current,
            "nonce_base64": base64.b64encode(nonce).decode("ascii"),
            "sealed_base64": base64.b64encode(sealed).decode("ascii"),
        }

    def open(
        self, sealed: Mapping[str, Any], *, topic: str, partition: int, offset: int
    ) -> tuple[bytes | None, bytes]:
        """The original (key, value); SealError says why not."""
        if sealed.get("alg") != ALGORITHM:
            raise SealError(f"sealed with {sealed.get('alg')!r}, not {ALGORITHM}")
        key_id = str(sealed.get("key_id"))
        if key_id not in self.keys:
            raise SealError(
                f"sealed with key {key_id!r}, which is not in PUSHR_RELAY_DLQ_KEYS "
                f"(it has {', '.join(sorted(self.keys))})"
            )
        try:
            nonce = base64.b64decode(str(sealed.get("nonce_base64")), validate=True)
            data = base64.b64decode(str(sealed.get("sealed_base64")), validate=True)
            aad = associated_data(key_id, topic, partition, offset)
            plaintext = AESGCM(self.keys[key_id]).decrypt(nonce, data, aad)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SealError(
                f"the sealed original does not open with key {key_id!r}: another key of that "
                "id, or a record that was altered"
            ) from exc
        return unframe(plaintext)
