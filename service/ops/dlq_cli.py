"""`pushr-relay dlq list|show|replay`: the dead-letter topic, for the operator on call.

    pushr-relay dlq list [--reason R] [--since 24h] [--until T] [--event-id ID]
                         [--source-topic T] [--source-partition N] [--json]
    pushr-relay dlq show PARTITION:OFFSET [--original]
    pushr-relay dlq replay [filters as for list] [PARTITION:OFFSET ...] [--to TOPIC]
                           [--set FIELD=VALUE ...] [--fix-command CMD] [--yes]

Settings are the relay's own `PUSHR_RELAY_*` variables: the topics, the Kafka connection and,
for `--original` and `replay`, `PUSHR_RELAY_DLQ_KEYS`. Exit status: 0 done, 1 nothing matched
or some records could not be replayed, 2 a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from service.clock import SystemClock
from service.configuration import ConfigurationError
from service.contract import REJECTION_REASONS
from service.contract.dead_letter import original_of
from service.contract.sealing import SealError
from service.ops.dead_letters import DeadLetter, Selection, parse_coordinates, select
from service.ops.replay import parse_set, plan, send
from service.ops.scan import ScanError, parse_time
from service.settings import Settings

SAFE_TO_REPEAT = (
    "Replaying again is safe: each event keeps its event_id, and the relay's ledger never "
    "sends a batch twice (while it keeps the entry, PUSHR_RELAY_LEDGER_TTL_SECONDS)."
)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", action="append", default=[], choices=REJECTION_REASONS)
    parser.add_argument("--since", help="dead-lettered at or after: 30m, 24h, 7d or RFC 3339")
    parser.add_argument("--until", help="dead-lettered at or before (same forms)")
    parser.add_argument("--event-id", help="the event's event_id")
    parser.add_argument("--source-topic", help="the topic the event was read from")
    parser.add_argument("--source-partition", type=int, help="... and its partition")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pushr-relay dlq", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="dead letters matching the filters")
    _filters(listing)
    listing.add_argument("--json", action="store_true", help="one JSON line per dead letter")
    show = commands.add_parser("show", help="one dead letter, masked")
    show.add_argument("coordinates", metavar="PARTITION:OFFSET")
    show.add_argument(
        "--original", action="store_true", help="the original value, unmasked (needs the key)"
    )
    replay = commands.add_parser("replay", help="send dead letters again (dry run by default)")
    _filters(replay)
    replay.add_argument("coordinates", nargs="*", metavar="PARTITION:OFFSET")
    replay.add_argument("--to", help="topic to send to (default: the in-topic)")
    replay.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    replay.add_argument("--fix-command", metavar="CMD", help="JSON lines in, JSON lines out")
    replay.add_argument("--yes", action="store_true", help="send (without it: a dry run)")
    return parser


def _selection(args: argparse.Namespace, now: float) -> Selection:
    return Selection(
        reasons=frozenset(args.reason),
        since=parse_time(args.since, now=now) if args.since else None,
        until=parse_time(args.until, now=now) if args.until else None,
        event_id=args.event_id,
        source_topic=args.source_topic,
        source_partition=args.source_partition,
        coordinates=frozenset(parse_coordinates(c) for c in getattr(args, "coordinates", [])),
    )


def _line(letter: DeadLetter) -> str:
    record, source = letter.record, letter.record.get("source") or {}
    where = f"{source.get('topic')} {source.get('partition')}:{source.get('offset')}"
    return (
        f"{letter.coordinates:<10} {record.get('dead_lettered_at', ''):<24}  "
        f"{record.get('reason', ''):<22} {record.get('event_id') or '-':<28} "
        f"{where:<30} {letter.original}"
    )


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


async def _list(settings: Settings, args: argparse.Namespace, now: float) -> int:
    letters, unreadable = await select(settings, _selection(args, now))
    if args.json:
        for letter in letters:
            _out(orjson.dumps(letter.summary()).decode())
    else:
        _out(f"{len(letters)} dead letter(s) on {settings.dlq_topic}")
        if letters:
            _out(f"{'DLQ P:O':<10} {'DEAD-LETTERED AT':<24}  {'REASON':<22} {'EVENT ID':<28} ")
            for letter in letters:
                _out(_line(letter))
    if unreadable:
        print(f"note: {unreadable} record(s) on the topic are not dead letters", file=sys.stderr)
    return 0 if letters else 1


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    partition, offset = parse_coordinates(args.coordinates)
    letters, _ = await select(settings, Selection(coordinates=frozenset({(partition, offset)})))
    if not letters:
        print(f"no dead letter at {args.coordinates} on {settings.dlq_topic}", file=sys.stderr)
        return 1
    (letter,) = letters
    if not args.original:
        _out(orjson.dumps(letter.shown(), option=orjson.OPT_INDENT_2).decode())
        return 0
    try:
        _key, value = original_of(letter.record, settings.dlq_sealing_keys())
    except SealError as exc:
        print(f"pushr-relay dlq show: {letter.coordinates}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(value + b"\n")
    return 0


async def _replay(settings: Settings, args: argparse.Namespace, now: float) -> int:
    sets = [parse_set(text) for text in args.set]
    letters, _ = await select(settings, _selection(args, now))
    if not letters:
        print("no dead letter matches: nothing to replay", file=sys.stderr)
        return 1
    topic = args.to or settings.in_topic
    planned = plan(
        letters,
        keys=settings.dlq_sealing_keys(),
        sets=sets,
        fix_command=args.fix_command,
        settings=settings,
        now=now,
    )
    ready = [p for p in planned if p.problem is None]
    for item in planned:
        if item.problem is not None:
            _out(f"{item.letter.coordinates}: not replayed: {item.problem}")
        elif not args.yes:
            _out(f"{item.letter.coordinates}: would send to {topic}: {item.shown()}")
    if not args.yes:
        _out(f"dry run: nothing sent; --yes sends {len(ready)} of {len(planned)} to {topic}.")
        _out(SAFE_TO_REPEAT)
        return 0 if ready else 1
    placed = await send(settings, ready, topic)
    for item, where in zip(ready, placed, strict=True):
        _out(f"{item.letter.coordinates}: sent to {topic} {where}")
    _out(f"sent {len(placed)} of {len(planned)}. {SAFE_TO_REPEAT}")
    return 0 if len(ready) == len(planned) else 1


def cli_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    settings = Settings()
    now = SystemClock().now()
    runners: dict[str, Any] = {
        "list": lambda: _list(settings, args, now),
        "show": lambda: _show(settings, args),
        "replay": lambda: _replay(settings, args, now),
    }
    try:
        code: int = asyncio.run(runners[args.command]())
    except ScanError as exc:
        raise ConfigurationError(str(exc)) from exc
    except KafkaError as exc:
        raise ConfigurationError(
            f"Kafka at {settings.kafka_bootstrap_servers} cannot be read: {type(exc).__name__}"
        ) from exc
    return code
