"""Replaying dead letters: open each original, fix it up, check it, send it back.

- **Fix-ups**, in this order: every `--set FIELD=VALUE` (a dotted path into the event; the
  value is JSON when it parses as JSON, else a string), then `--fix-command`, run once with
  one original per line on stdin and expected to write as many lines, in order, on stdout.
- **Checked before sending** with the relay's own contract and limits: an event that would
  be dead-lettered again is not sent, and the operator is told why.
- **Safe to repeat.** A replayed event keeps its `event_id` (and `idempotency_key`), so its
  batches have the ledger keys of any earlier replay: a batch already sent or rejected is
  never sent again, its stored result is re-published. That holds while the ledger keeps the
  entries (`PUSHR_RELAY_LEDGER_TTL_SECONDS`) and the same fix-ups give the same batches.
- Each sent record keeps the original record's key (its partition, so its order), and
  carries `pushr-replay-of: <dlq topic>:<partition>:<offset>`.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaProducer

from service.configuration import ConfigurationError
from service.contract import Contract, ContractLimits, Rejection
from service.contract.dead_letter import original_of
from service.contract.masking import mask_json, redact_text
from service.contract.sealing import DlqKeys, SealError
from service.ops.dead_letters import DeadLetter
from service.settings import Settings

REPLAY_HEADER: Final = "pushr-replay-of"
FIX_COMMAND_TIMEOUT: Final = 120.0


class FixError(Exception):
    """A fix-up that cannot be applied: one line, no payload in it."""


def parse_set(text: str) -> tuple[list[str], Any]:
    path, sep, raw = text.partition("=")
    if not sep or not path or any(not part for part in path.split(".")):
        raise ConfigurationError(f"--set {text!r}: expected FIELD=VALUE, e.g. sender_id=PYWE")
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return path.split("."), value


def apply_sets(value: bytes, sets: Sequence[tuple[list[str], Any]]) -> bytes:
    if not sets:
        return value
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise FixError(
            "the original is not JSON: --set cannot change it; use --fix-command"
        ) from None
    if not isinstance(event, dict):
        raise FixError("the original is not a JSON object: --set cannot change it")
    for path, new in sets:
        target = event
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = new
    return orjson.dumps(event)


def run_fix_command(command: str, values: Sequence[bytes]) -> list[bytes]:
    """`command` (no shell) with one value a line in, as many lines out, in order."""
    if any(b"\n" in v for v in values):
        raise FixError("an original spans several lines: it cannot go through --fix-command")
    try:
        done = subprocess.run(  # noqa: S603 - the operator's own command, split without a shell
            shlex.split(command),
            input=b"".join(v + b"\n" for v in values),
            capture_output=True,
            timeout=FIX_COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise ConfigurationError(f"--fix-command could not run: {type(exc).__name__}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        # its error may quote a payload: masked like any other output
        raise ConfigurationError(
            f"--fix-command exited {done.returncode}: {redact_text(tail[0])[:200]}"
        )
    lines = done.stdout.splitlines()
    if len(lines) != len(values):
        raise ConfigurationError(
            f"--fix-command wrote {len(lines)} lines for {len(values)} records; "
            "it must write one line per line read, in order"
        )
    return lines


@dataclass(frozen=True, slots=True)
class Planned:
    letter: DeadLetter
    key: bytes | None = None
    value: bytes | None = None
    problem: str | None = None  # why it is not sent

    def shown(self) -> str:
        """The event as it would be sent, masked."""
        if self.value is None:
            return ""
        try:
            return orjson.dumps(mask_json(orjson.loads(self.value))).decode()
        except orjson.JSONDecodeError:
            return redact_text(self.value.decode("utf-8", "replace"))


def plan(
    letters: Sequence[DeadLetter],
    *,
    keys: DlqKeys | None,
    sets: Sequence[tuple[list[str], Any]],
    fix_command: str | None,
    settings: Settings,
    now: float,
) -> list[Planned]:
    planned: list[Planned] = []
    for letter in letters:
        try:
            key, value = original_of(letter.record, keys)
            planned.append(Planned(letter, key, apply_sets(value, sets)))
        except (SealError, FixError) as exc:
            planned.append(Planned(letter, problem=str(exc)))
    if fix_command:
        ready = [p for p in planned if p.value is not None]
        fixed = iter(run_fix_command(fix_command, [p.value or b"" for p in ready]))
        planned = [replace(p, value=next(fixed)) if p.value is not None else p for p in planned]
    contract = Contract(ContractLimits.from_settings(settings))
    return [_checked(item, contract, now) for item in planned]


def _checked(item: Planned, contract: Contract, now: float) -> Planned:
    verdict = contract.decode(item.value, now=now) if item.value is not None else None
    if not isinstance(verdict, Rejection):
        return item
    first = verdict.errors[0] if verdict.errors else None
    why = verdict.reason + (f" ({first.path}: {first.message})" if first else "")
    return replace(item, problem=f"still invalid after the fix-ups: {why}")


async def send(settings: Settings, planned: Sequence[Planned], topic: str) -> list[str]:
    """Send every planned record that has no problem; their new places, `PARTITION:OFFSET`."""
    producer = AIOKafkaProducer(**settings.kafka_common(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        placed = []
        for item in planned:
            if item.problem is not None or item.value is None:
                continue
            metadata = await producer.send_and_wait(
                topic,
                value=item.value,
                key=item.key,
                headers=[
                    ("content-type", b"application/json"),
                    (REPLAY_HEADER, item.letter.replay_of.encode("utf-8")),
                ],
            )
            placed.append(f"{metadata.partition}:{metadata.offset}")
    finally:
        await producer.stop()
    return placed
