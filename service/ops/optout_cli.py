"""`pushr-relay optout add|remove|check NUMBER…` and `pushr-relay optout import FILE`.

One JSON line out per number, in input order, numbers masked. A number that is not a Ghana
mobile number gets the reason `validate` gives it (`not_mobile`, `invalid_format`, ...) and
is not produced; the others are. Exit 0 when every number was taken, 1 when any was not,
2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from service.app import configured_secrets
from service.contract.consent import SCOPES, BadNumber, OptOut
from service.contract.masking import mask_phone
from service.contract.phones import normalise_phone
from service.observability.logging import configure_logging
from service.ops.optout import Entry, entries_from_file, lookup, produce, records
from service.settings import Settings

EXIT_OK, EXIT_SOME_BAD, EXIT_UNREADABLE = 0, 1, 2
DEFAULT_SOURCE = "pushr-relay-optout"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pushr-relay optout",
        description="Write the opt-out list (PUSHR_RELAY_OPTOUT_TOPIC) or read it.",
        epilog="exit status: 0 all numbers taken, 1 some refused, 2 file unreadable",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("add", "opt numbers out"), ("remove", "take numbers off the list")):
        command = commands.add_parser(name, help=text)
        command.add_argument("numbers", nargs="+", metavar="NUMBER")
        _record_options(command)
    check = commands.add_parser("check", help="whether numbers are on the shared list")
    check.add_argument("numbers", nargs="+", metavar="NUMBER")
    bulk = commands.add_parser("import", help="opt out every number of a CSV or a list")
    bulk.add_argument("file", help="CSV (a number column, or the first) or one number a line")
    bulk.add_argument("--remove", action="store_true", help="take them off the list instead")
    _record_options(bulk)
    return parser


def _record_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--scope", choices=SCOPES, default="all", help="all (default) or bulk")
    command.add_argument("--source", default=DEFAULT_SOURCE, help="recorded with each entry")


def _write(line: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(line) + b"\n")


def _refused(entry: Entry, bad: BadNumber) -> dict[str, Any]:
    return {
        "line": entry.line,
        "valid": False,
        "recipient": bad.masked,
        "reason": bad.reason,
        "message": bad.text,
    }


def _write_records(settings: Settings, entries: Sequence[Entry], args: argparse.Namespace) -> int:
    opted_out = args.command == "add" or (args.command == "import" and not args.remove)
    made = records(
        entries, opted_out=opted_out, scope=args.scope, source=args.source, now=time.time()
    )
    good = [record for _, record in made if isinstance(record, OptOut)]
    if good:
        asyncio.run(produce(settings, good))
    for entry, record in made:
        if isinstance(record, BadNumber):
            _write(_refused(entry, record))
        else:
            masked = mask_phone(record.number)
            _write({"line": entry.line, "number": masked, "opted_out": record.opted_out,
                    "scope": record.scope})  # fmt: skip
    return EXIT_OK if len(good) == len(made) else EXIT_SOME_BAD


def _check(settings: Settings, entries: Sequence[Entry]) -> int:
    normalised = [(entry, *normalise_phone(entry.raw)) for entry in entries]
    numbers = [number for _, number, _ in normalised if number is not None]
    found = asyncio.run(lookup(settings, numbers)) if numbers else {}
    for entry, number, reason in normalised:
        if number is None:
            _write(_refused(entry, BadNumber(mask_phone(entry.raw), reason or "invalid_format")))
            continue
        scope = found.get(number)
        masked = mask_phone(number)
        _write({"line": entry.line, "number": masked, "opted_out": scope is not None,
                "scope": scope})  # fmt: skip
    return EXIT_OK if len(numbers) == len(entries) else EXIT_SOME_BAD


def cli_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    settings = Settings()  # bad settings reach `service.cli`: one line, without values
    # stdout is the answer; warnings (an unreachable broker, a bad record) go to stderr
    configure_logging("WARNING", secrets=configured_secrets(settings))
    if args.command == "import":
        try:
            text = Path(args.file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            print(f"pushr-relay optout: cannot read {args.file}: {why}", file=sys.stderr)
            return EXIT_UNREADABLE
        entries = entries_from_file(text)
    else:
        entries = [Entry(i, raw) for i, raw in enumerate(args.numbers, start=1)]
    if args.command == "check":
        return _check(settings, entries)
    return _write_records(settings, entries, args)
