"""`pushr-relay validate`: one output line per input line, in order, and the exit codes."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.contract.validate_cli import cli_main

GOOD = orjson.dumps({"event_id": "a", "message": "Hi", "recipients": ["0558544343"]})
BAD = orjson.dumps({"event_id": "b", "message": "Hi", "recipients": ["0302123456"]})
NOW = ["--now", "2025-06-01T00:00:00Z"]


def run(
    argv: list[str], capsysbinary: pytest.CaptureFixture[bytes], stdin: bytes | None = None
) -> tuple[int, list[dict[str, Any]], bytes]:
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    code = cli_main(argv)
    out, err = capsysbinary.readouterr()
    return code, [orjson.loads(line) for line in out.splitlines()], err


@pytest.fixture(autouse=True)
def _restore_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", sys.stdin)


def test_all_valid_from_a_file_exits_0(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(GOOD + b"\n" + GOOD.replace(b'"a"', b'"a2"') + b"\n")
    code, lines, _ = run([str(source), *NOW], capsysbinary)
    assert code == 0
    assert [line["line"] for line in lines] == [1, 2]
    assert lines[0] == {
        "line": 1,
        "valid": True,
        "event": {
            "event_id": "a",
            "message": "Hi",
            "recipients": ["233558544343"],
            "delivery": "at_most_once",
            "priority": "normal",
        },
        "estimate": {"provider_units": 1, "segments": 1, "encoding": "GSM-7"},
        "rejected_recipients": [],
        "warnings": [],
    }


def test_any_invalid_from_stdin_exits_1_in_input_order(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    stdin = GOOD + b"\n\n" + BAD + b"\r\nnot json\n" + b"\xff\n" + GOOD
    code, lines, _ = run(["-", *NOW], capsysbinary, stdin)
    assert code == 1
    assert [(line["line"], line["valid"]) for line in lines] == [
        (1, True),
        (3, False),
        (4, False),
        (5, False),
        (6, True),
    ]
    assert lines[1]["reason"] == "no_valid_recipients"
    assert lines[1]["errors"][0] == {
        "path": "/recipients/0",
        "code": "not_mobile",
        "message": "030****456: not a mobile number (landline, toll-free or other service)",
    }
    assert [lines[2]["reason"], lines[3]["reason"]] == ["not_json", "not_utf8"]


def test_no_argument_reads_stdin(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, lines, _ = run(NOW, capsysbinary, GOOD + b"\n")
    assert (code, len(lines)) == (0, 1)


def test_unreadable_input_exits_2(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    code, lines, err = run([str(tmp_path / "missing.jsonl")], capsysbinary)
    assert (code, lines) == (2, [])
    assert b"cannot read" in err
    code, _, _ = run([str(tmp_path)], capsysbinary)  # a directory
    assert code == 2


def test_bad_now_exits_2(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert run(["--now", "2025-06-01T00:00:00"], capsysbinary, b"")[0] == 2


def test_limits_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setenv("PUSHR_RELAY_SENDER_ID_ALLOWLIST", "PYWE, ACME")
    event = orjson.dumps(
        {"event_id": "a", "message": "Hi", "recipients": ["0558544343"], "sender_id": "OTHER"}
    )
    code, lines, _ = run(NOW, capsysbinary, event)
    assert code == 1
    assert lines[0]["reason"] == "sender_id_not_allowed"


def test_the_console_command_end_to_end(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(GOOD + b"\n" + BAD + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "service", "validate", str(source)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert [orjson.loads(line)["valid"] for line in done.stdout.splitlines()] == [True, False]
    piped = subprocess.run(
        [sys.executable, "-m", "service", "validate", "-"],
        input=GOOD + b"\n",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert piped.returncode == 0
