"""The JSON log shape and its guards: numbers masked in every form, secrets dropped by key
and by value, for structlog's lines and stdlib loggers' (aiokafka, httpx) alike."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.contract.masking import REDACTED, is_secret_key, mask_json, redact_text
from service.observability.logging import COUNTER_KEYS, Scrubber, configure_logging, get_logger

SECRET = "sk_live_9f8e7d6c5b4a"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJidXNpbmVzcyI6MX0.c2lnbmF0dXJl"
RAW_FORMS = ["233558544343", "0558544343", "+233 55 854 4343", "+233-55-854-4343", "055 854 4343"]
FULL_NUMBER = re.compile(r"233\d{9}|(?<!\d)0[2-5]\d{8}(?!\d)")


def leaks(text: str) -> list[str]:
    found = FULL_NUMBER.findall(text)
    found += [form for form in [*RAW_FORMS, SECRET, JWT] if form in text]
    return found


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, secrets=[SECRET, JWT, "short"])
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("form", RAW_FORMS)
def test_every_form_of_a_number_is_masked(form: str) -> None:
    scrub = Scrubber()
    out = scrub(None, "info", {"event": f"sending to {form} now", "to": form})
    assert leaks(orjson.dumps(out).decode()) == []
    assert "****" in out["to"]


def test_the_canonical_number_keeps_its_ends() -> None:
    assert Scrubber().text("233558544343") == "23355****343"


def test_secrets_go_by_key_at_any_depth_and_by_value_anywhere() -> None:
    scrub = Scrubber([SECRET, JWT])
    out = scrub(
        None,
        "info",
        {
            "event": f"body was {{'note': 'key {SECRET}'}}",
            "api_key_secret": "anything",
            "headers": {"Authorization": f"Bearer {JWT}", "Accept": "application/json"},
            "nested": [{"password": "hunter22"}, {"detail": f"token={JWT}"}],
            "error": f"refused {JWT[:20]}",  # a fragment is not the secret: kept
        },
    )
    text = orjson.dumps(out).decode()
    assert leaks(text) == []
    assert "hunter22" not in text
    assert out["api_key_secret"] == REDACTED
    assert out["headers"]["Authorization"] == REDACTED
    assert out["headers"]["Accept"] == "application/json"


def test_large_offsets_stay_readable_but_not_under_other_keys() -> None:
    out = Scrubber()(
        None, "info", {"event": "x", "offset": 233558544343, "partition": 3, "n": 233558544343}
    )
    assert out["offset"] == 233558544343
    assert out["partition"] == 3
    assert out["n"] == "23355****343"


def test_numbers_hide_in_integers_keys_and_reprs() -> None:
    @dataclass
    class Batch:
        recipients: list[str]

    out = Scrubber()(
        None,
        "info",
        {
            "event": "x",
            "msisdn": 233558544343,
            "by_number": {"0558544343": 1},
            "b": Batch(["0558544343"]),
        },
    )
    assert leaks(orjson.dumps(out).decode()) == []
    assert out["msisdn"] == "23355****343"


def test_structlog_and_stdlib_lines_share_one_json_shape(captured: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(
        event_id="evt-1", topic="sms.requests", partition=3, offset=17
    )
    get_logger("service.test").info("batch_outcome", outcome="sent", to="0558544343")
    logging.getLogger("aiokafka.conn").warning(
        "connection to %s lost, key=%s", "+233 55 854 4343", SECRET
    )
    logging.getLogger("httpx").warning("HTTP Request: GET /sms/ Authorization: Bearer %s", JWT)
    logging.getLogger("aiokafka.conn").info("below the library threshold")

    out = lines(captured)
    assert [line["event"][:14] for line in out] == [
        "batch_outcome",
        "connection to ",
        "HTTP Request: ",
    ]
    for line in out:
        assert line["timestamp"].endswith("Z")
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", line["timestamp"])
        assert line["event_id"] == "evt-1"
        assert (line["topic"], line["partition"], line["offset"]) == ("sms.requests", 3, 17)
        assert {"level", "logger"} <= set(line)
    assert out[1]["logger"] == "aiokafka.conn"
    assert leaks(captured.getvalue()) == []


def test_exceptions_are_scrubbed_too(captured: io.StringIO) -> None:
    try:
        raise ValueError(f"bad recipient 0558544343 with key {SECRET}")
    except ValueError:
        get_logger("service.test").exception("record_failed")
        logging.getLogger("aiokafka").exception("stdlib failure")
    out = lines(captured)
    assert len(out) == 2
    assert all("exception" in line for line in out)
    assert leaks(captured.getvalue()) == []


def test_short_configured_values_do_not_mangle_words(captured: io.StringIO) -> None:
    get_logger("service.test").info("a short message")
    assert lines(captured)[0]["event"] == "a short message"


def reference(value: Any) -> Any:
    # Scrubber.value as it stood before its caches and shortcuts, with SECRET configured.
    if isinstance(value, str):
        return redact_text(value.replace(SECRET, REDACTED))
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return mask_json(value)
    if isinstance(value, dict):
        return {reference(str(k)): reference_entry(str(k), v) for k, v in value.items()}
    return [reference(v) for v in value]


def reference_entry(key: str, value: Any) -> Any:
    if is_secret_key(key):
        return REDACTED
    if key in COUNTER_KEYS and type(value) is int:
        return value
    return reference(value)


_WARM_SCRUBBER = Scrubber([SECRET])


@settings(max_examples=500)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(alphabet=st.sampled_from("0123456789+ -:=ajtwokenpsx"), max_size=30),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["a", "token", "offset", "jwt", "x9"]), inner)
        ),
        max_leaves=8,
    )
)
@example(99_999_999)
@example(-99_999_999)
@example(-100_000_000)
@example(100_000_000)
@example("jwt=x")
@example(f"key {SECRET} 233558544343")
def test_the_scrubbers_caches_and_shortcuts_change_nothing(value: Any) -> None:
    expected = reference(value)
    assert Scrubber([SECRET]).value(value) == expected  # caches empty
    for _ in range(2):  # and filled, by this value and every one before
        assert _WARM_SCRUBBER.value(value) == expected
