"""`pushr-relay validate [FILE|-]`: the relay's own contract check, for producers and CI.

JSON lines in (a file, or stdin for `-` or no argument); for every non-blank line one JSON
line out, in input order, carrying the input line number. Exit 0 when every event is
valid, 1 when any is not, 2 when the input (or the relay's setup) cannot be read.
Limits come from the same PUSHR_RELAY_* settings as the service, so a CI job can check
against production's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from typing import IO

import orjson

from service.accounts.load import contract_limits, load_accounts
from service.contract.decoder import Contract
from service.contract.model import Rejection
from service.contract.schemas import SchemaSetupError
from service.settings import Settings

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pushr-relay validate",
        description="Validate and normalise JSON-lines SMS request events.",
        epilog="exit status: 0 all valid, 1 some invalid, 2 input unreadable",
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON-lines file; - for stdin")
    parser.add_argument(
        "--now",
        metavar="RFC3339",
        help="judge schedules and expiry at this time instead of now (reproducible CI)",
    )
    return parser


def _parse_now(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.timestamp()


def _run(contract: Contract, lines: Iterable[bytes], now: float, out: IO[bytes]) -> int:
    status = EXIT_VALID
    for number, line in enumerate(lines, start=1):
        payload = line.rstrip(b"\r\n")
        if not payload.strip():
            continue
        result = contract.decode(payload, now=now)
        if isinstance(result, Rejection):
            status = EXIT_INVALID
        out.write(orjson.dumps({"line": number, **result.to_json_dict()}) + b"\n")
    return status


def cli_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.now is None:
        now = time.time()  # the CLI is its own composition root: the clock is read here
    else:
        parsed = _parse_now(args.now)
        if parsed is None:
            print("pushr-relay validate: --now needs an RFC 3339 time with offset", file=sys.stderr)
            return EXIT_UNREADABLE
        now = parsed
    # bad settings reach `service.cli`, which reports them without their values
    settings = Settings()
    try:
        # with an accounts file, events may name its accounts (each with its sender ids)
        contract = Contract(contract_limits(settings, load_accounts(settings)))
    except SchemaSetupError as exc:
        print(f"pushr-relay validate: cannot start: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    out = sys.stdout.buffer
    try:
        if args.file == "-":
            status = _run(contract, sys.stdin.buffer, now, out)
        else:
            with open(args.file, "rb") as stream:
                status = _run(contract, stream, now, out)
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`); keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INVALID
    except OSError as exc:
        print(f"pushr-relay validate: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_UNREADABLE
    return status
