"""Dead letters keep their original sealed: it opens with the key, in its own record only,
rotates by key id, and without a key the record is as it always was."""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from service.cli import settings_problems
from service.contract import Contract, ContractLimits, Rejection
from service.contract.dead_letter import DeadLetters, build_dlq_record, original_of
from service.contract.schemas import DLQ_RECORD, compiled
from service.contract.sealing import DlqKeys, SealError, frame, unframe
from service.settings import Settings

NOW = 1_748_736_000.0
CONTRACT = Contract(ContractLimits.from_settings(Settings()))
RAW = orjson.dumps({"event_id": "e-1", "message": "Call 0558544343", "recipients": []})


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def keys(spec: str, current: str | None = None) -> DlqKeys:
    return DlqKeys.parse(spec, current)


def dead_letter(dead_letters: DeadLetters, raw: bytes = RAW, **where: Any) -> dict[str, Any]:
    rejection = CONTRACT.decode(raw, now=NOW)
    assert isinstance(rejection, Rejection)
    record = dead_letters.build(
        raw,
        key=where.pop("key", b"e-1"),
        topic=where.pop("topic", "sms.requests"),
        partition=where.pop("partition", 2),
        offset=where.pop("offset", 40),
        timestamp_ms=None,
        rejection=rejection,
        now=NOW,
    )
    errors = [e.message for e in compiled(DLQ_RECORD).iter_errors(record)]
    assert errors == []
    return record


def test_without_keys_the_record_is_exactly_as_before() -> None:
    record = dead_letter(DeadLetters())
    rejection = CONTRACT.decode(RAW, now=NOW)
    assert isinstance(rejection, Rejection)
    before = build_dlq_record(
        RAW,
        topic="sms.requests",
        partition=2,
        offset=40,
        timestamp_ms=None,
        rejection=rejection,
        now=NOW,
    )
    assert record == before
    with pytest.raises(SealError, match=r"only a masked copy was kept.*PUSHR_RELAY_DLQ_KEYS"):
        original_of(record, keys(f"k1:{new_key()}"))


def test_with_a_key_the_original_and_its_key_open_again() -> None:
    ring = keys(f"k1:{new_key()}")
    record = dead_letter(DeadLetters(ring))
    assert record["original_sealed"]["key_id"] == "k1"
    assert b"0558544343" not in orjson.dumps(record)  # sealed, not readable
    assert original_of(record, ring) == (b"e-1", RAW)


def test_a_record_without_a_kafka_key_keeps_none() -> None:
    ring = keys(f"k1:{new_key()}")
    record = dead_letter(DeadLetters(ring), key=None)
    assert original_of(record, ring) == (None, RAW)
    assert unframe(frame(b"", b"v")) == (b"", b"v")


def test_without_the_key_replay_says_which_key_it_needs() -> None:
    record = dead_letter(DeadLetters(keys(f"k1:{new_key()}")))
    with pytest.raises(SealError, match=r"sealed with key 'k1': set PUSHR_RELAY_DLQ_KEYS"):
        original_of(record, None)
    with pytest.raises(SealError, match=r"key 'k1', which is not in PUSHR_RELAY_DLQ_KEYS"):
        original_of(record, keys(f"k2:{new_key()}"))


def test_another_key_of_the_same_id_or_an_altered_record_does_not_open() -> None:
    record = dead_letter(DeadLetters(keys(f"k1:{new_key()}")))
    with pytest.raises(SealError, match="does not open with key 'k1'"):
        original_of(record, keys(f"k1:{new_key()}"))


def test_a_sealed_original_moved_to_another_record_does_not_open() -> None:
    ring = keys(f"k1:{new_key()}")
    record = dead_letter(DeadLetters(ring))
    moved = {**record, "source": {**record["source"], "offset": 41}}
    with pytest.raises(SealError, match="altered"):
        original_of(moved, ring)


def test_rotation_new_records_use_the_current_key_old_ones_still_open() -> None:
    old, new = new_key(), new_key()
    before = dead_letter(DeadLetters(keys(f"k1:{old}")))
    rotated = keys(f"k1:{old},k2:{new}", current="k2")
    after = dead_letter(DeadLetters(rotated), offset=41)
    assert after["original_sealed"]["key_id"] == "k2"
    assert original_of(before, rotated) == (b"e-1", RAW)
    assert original_of(after, rotated) == (b"e-1", RAW)


def test_an_original_too_large_to_keep_is_not_sealed_and_replay_says_so() -> None:
    ring = keys(f"k1:{new_key()}")
    record = dead_letter(DeadLetters(ring, max_payload_bytes=64))
    assert record["original_sealed"] is None
    with pytest.raises(SealError, match=r"larger than a dead letter keeps"):
        original_of(record, ring)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("k1", "each entry is KEY_ID:BASE64"),
        ("bad id:AAAA", "each entry is KEY_ID:BASE64"),
        ("k1:AAAA", "key 'k1' is not 32 bytes of base64"),
        ("k1:not base64!", "key 'k1' is not 32 bytes of base64"),
        (" , ", "names no key"),
    ],
)
def test_unusable_keys_fail_in_one_line_without_the_value(spec: str, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(dlq_keys=spec)
    text = settings_problems(refused.value)  # the one line `pushr-relay` prints
    assert message in text
    assert "\n" not in text
    value = spec.partition(":")[2].strip()
    assert not value or value not in text


def test_settings_name_the_current_key_or_refuse_an_unknown_one() -> None:
    one, two = new_key(), new_key()
    first = Settings(dlq_keys=f"a:{one},b:{two}").dlq_sealing_keys()
    chosen = Settings(dlq_keys=f"a:{one},b:{two}", dlq_key_id="b").dlq_sealing_keys()
    assert first is not None
    assert chosen is not None
    assert (first.current, chosen.current) == ("a", "b")
    with pytest.raises(ValidationError, match="PUSHR_RELAY_DLQ_KEY_ID: 'c' is not one of"):
        Settings(dlq_keys=f"a:{one}", dlq_key_id="c")
    with pytest.raises(ValidationError, match="twice"):
        Settings(dlq_keys=f"a:{one},a:{two}")
    with pytest.raises(ValidationError, match="without PUSHR_RELAY_DLQ_KEYS"):
        Settings(dlq_key_id="a")
    assert Settings().dlq_sealing_keys() is None
    with pytest.raises(ValidationError) as refused:
        Settings(dlq_keys=f"a:{one[:-4]}")
    assert one[:-4] not in settings_problems(refused.value)
