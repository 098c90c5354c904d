"""Replay's fix-ups and checks, on dead letters built by the relay's own builder: `--set`
paths and values, a `--fix-command` that reads and writes JSON lines, and events that would
be dead-lettered again are held back with the reason."""

from __future__ import annotations

import base64
import os
import shlex
import sys

import orjson
import pytest

from service.configuration import ConfigurationError
from service.contract import Contract, ContractLimits, Rejection
from service.contract.dead_letter import DeadLetters
from service.contract.sealing import DlqKeys
from service.ops.dead_letters import DeadLetter, parse_coordinates
from service.ops.replay import FixError, apply_sets, parse_set, plan
from service.settings import Settings

NOW = 1_748_736_000.0
SETTINGS = Settings(sender_id_allowlist=["PYWE"])
KEYS = DlqKeys.parse(f"k1:{base64.b64encode(os.urandom(32)).decode()}", None)


def letter(event: dict[str, object], offset: int = 0) -> DeadLetter:
    raw = orjson.dumps(event)
    rejection = Contract(ContractLimits.from_settings(SETTINGS)).decode(raw, now=NOW)
    assert isinstance(rejection, Rejection)
    record = DeadLetters(KEYS).build(
        raw,
        key=str(event["event_id"]).encode(),
        topic="sms.requests",
        partition=0,
        offset=offset,
        timestamp_ms=None,
        rejection=rejection,
        now=NOW,
    )
    return DeadLetter("sms.requests.dlq", 0, offset, NOW, record)


def python(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_set_takes_dotted_paths_and_json_values() -> None:
    sets = [
        parse_set("sender_id=PYWE"),
        parse_set("metadata.order.id=4711"),
        parse_set('recipients=["0241234567"]'),
    ]
    fixed = orjson.loads(apply_sets(b'{"event_id":"e","metadata":null}', sets))
    assert fixed == {
        "event_id": "e",
        "sender_id": "PYWE",
        "metadata": {"order": {"id": 4711}},
        "recipients": ["0241234567"],
    }
    with pytest.raises(ConfigurationError, match="expected FIELD=VALUE"):
        parse_set("sender_id")
    with pytest.raises(FixError, match="not JSON"):
        apply_sets(b"{broken", sets)
    assert parse_coordinates("3:42") == (3, 42)
    with pytest.raises(ConfigurationError, match="PARTITION:OFFSET"):
        parse_coordinates("3-42")


def test_a_fix_command_reads_and_writes_json_lines_in_order() -> None:
    upper = python(
        "import sys, json\n"
        "for line in sys.stdin:\n"
        "    e = json.loads(line); e['sender_id'] = 'PYWE'; print(json.dumps(e))"
    )
    letters = [
        letter(
            {
                "event_id": f"e-{i}",
                "message": "hi",
                "recipients": ["0241234567"],
                "sender_id": "SHOP",
            },
            offset=i,
        )
        for i in range(3)
    ]
    planned = plan(letters, keys=KEYS, sets=[], fix_command=upper, settings=SETTINGS, now=NOW)
    assert [p.problem for p in planned] == [None, None, None]
    assert [orjson.loads(p.value or b"")["event_id"] for p in planned] == ["e-0", "e-1", "e-2"]
    assert {p.key for p in planned} == {b"e-0", b"e-1", b"e-2"}
    assert "0241234567" not in planned[0].shown()  # what a dry run prints is masked


def test_a_fix_command_that_fails_or_loses_lines_stops_the_replay() -> None:
    letters = [letter({"event_id": "e", "message": "hi", "recipients": [], "sender_id": "x"})]
    with pytest.raises(ConfigurationError, match=r"exited 3: .*055\*\*\*\*343"):
        plan(
            letters,
            keys=KEYS,
            sets=[],
            fix_command=python("import sys; print('bad 0558544343', file=sys.stderr); exit(3)"),
            settings=SETTINGS,
            now=NOW,
        )
    with pytest.raises(ConfigurationError, match="wrote 0 lines for 1 records"):
        plan(letters, keys=KEYS, sets=[], fix_command=python("pass"), settings=SETTINGS, now=NOW)


def test_events_still_invalid_after_the_fix_ups_are_held_back_with_the_reason() -> None:
    letters = [
        letter(
            {"event_id": "e-1", "message": "hi", "recipients": ["0241234567"], "sender_id": "SHOP"}
        ),
    ]
    unfixed = plan(letters, keys=KEYS, sets=[], fix_command=None, settings=SETTINGS, now=NOW)
    assert (unfixed[0].problem or "").startswith(
        "still invalid after the fix-ups: sender_id_not_allowed (/sender_id: "
    )
    fixed = plan(
        letters,
        keys=KEYS,
        sets=[parse_set("sender_id=PYWE")],
        fix_command=None,
        settings=SETTINGS,
        now=NOW,
    )
    assert fixed[0].problem is None
    keyless = plan(letters, keys=None, sets=[], fix_command=None, settings=SETTINGS, now=NOW)
    assert (keyless[0].problem or "").startswith("the original is sealed with key 'k1'")
