"""One event's story, from what the relay published about it and what its ledger remembers.

The outbound topic is keyed by event id, so the whole story is in one partition, found with
the producer's partitioner: accepted → one result per batch → final status → delivery
reports (Push.R's `delivered` / `failed` / `partial_failed`); or rejected, with its dead
letter on the DLQ topic; or expired. The ledger adds each batch's state (claimed, sent,
rejected, unknown) and the stored result. Everything shown is as published: numbers masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from service.ledger.base import Ledger, LedgerError

_FINAL_DELIVERY = frozenset({"delivered", "failed", "partial_failed"})


@dataclass(frozen=True, slots=True)
class Step:
    at: str | None
    kind: str  # accepted | result | sent | ... | delivered | rejected | dead_letter
    summary: str
    where: str  # topic partition:offset
    record: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "summary": self.summary, "where": self.where}


@dataclass
class Story:
    event_id: str
    topic: str
    partition: int
    since: str | None
    steps: list[Step] = field(default_factory=list)
    ledger_backend: str = "memory"
    ledger: list[dict[str, Any]] = field(default_factory=list)
    ledger_note: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "found": self.found,
            "topic": self.topic,
            "partition": self.partition,
            "since": self.since,
            "steps": [s.to_json() for s in self.steps],
            "ledger": {
                "backend": self.ledger_backend,
                "batches": self.ledger,
                "note": self.ledger_note,
            },
        }

    def batch_keys(self) -> list[str]:
        """Every batch key the story names: planned by `accepted`, or seen in a result."""
        keys: dict[str, None] = {}
        for step in self.steps:
            record = step.record
            if step.kind == "accepted":
                total = int((record.get("batches") or {}).get("total") or 0)
                base = record.get("idempotency_key") or record.get("event_id")
                for index in range(total):
                    keys.setdefault(f"{base}#{index}/{total}", None)
            elif step.kind == "result" and record.get("batch_key"):
                keys.setdefault(str(record["batch_key"]), None)
        return list(keys)


def _ids(record: dict[str, Any]) -> str:
    ids = record.get("pushr_message_ids") or []
    return f"Push.R id {', '.join(map(str, ids))}" if ids else "no Push.R id"


def describe(record: dict[str, Any]) -> tuple[str, str | None, str]:
    """(kind, time, one-line summary) of a published record."""
    kind = str(record.get("type"))
    if kind == "result":
        batch = f"batch {int(record.get('batch_index', 0)) + 1}/{record.get('batch_count')}"
        parts = [
            str(record.get("outcome")),
            f"Push.R id {record['pushr_message_id']}" if record.get("pushr_message_id") else "",
            f"cost {record['cost']} GHS" if record.get("cost") is not None else "",
            f"{record.get('recipients_count')} recipient(s)",
            f"{record.get('attempts')} attempt(s)",
            f"HTTP {record['http_status']}" if record.get("http_status") else "",
            f"({record['detail']})" if record.get("detail") else "",
            "replayed from the ledger" if record.get("replayed") else "",
        ]
        return "result", record.get("produced_at"), f"{batch}: " + ", ".join(p for p in parts if p)
    if kind == "dead_letter":
        source = record.get("source") or {}
        return (
            "dead_letter",
            record.get("dead_lettered_at"),
            f"{record.get('reason')}, read from {source.get('topic')} "
            f"{source.get('partition')}:{source.get('offset')}",
        )
    status = str(record.get("status"))
    at = record.get("at")
    batches = record.get("batches") or {}
    if status == "accepted":
        text = (
            f"{batches.get('total')} batch(es), {record.get('recipients_accepted')} "
            f"recipient(s), {record.get('recipients_rejected')} dropped"
        )
    elif record.get("reason") == "delivery_report" and status in _FINAL_DELIVERY:
        text = f"delivery report: {record.get('detail') or _ids(record)}"
    elif status in ("rejected", "expired"):
        text = f"{record.get('reason')}: {record.get('detail') or ''}".rstrip(": ")
    else:
        counts = ", ".join(f"{n} {k}" for k, n in batches.items() if k != "total" and n)
        text = f"{counts or 'no batch'}; {_ids(record)}"
    return status, at, text


def add(story: Story, topic: str, partition: int, offset: int, raw: bytes | None) -> None:
    try:
        record = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return
    if isinstance(record, dict):
        kind, at, summary = describe(record)
        story.steps.append(Step(at, kind, summary, f"{topic} {partition}:{offset}", record))


async def read_ledger(story: Story, ledger: Ledger | None, backend: str) -> None:
    story.ledger_backend = backend
    if ledger is None:
        story.ledger_note = (
            "the memory ledger lives in the relay process and cannot be read from here; "
            "with PUSHR_RELAY_LEDGER_BACKEND=redis each batch's state is shown"
        )
        return
    for key in story.batch_keys():
        try:
            entry = await ledger.get(key)
        except LedgerError:
            story.ledger_note = "the ledger did not answer"
            return
        if entry is None:
            story.ledger.append({"batch_key": key, "state": "absent (never claimed, or expired)"})
            continue
        result = entry.result or {}
        story.ledger.append(
            {
                "batch_key": key,
                "state": str(entry.state),
                "outcome": result.get("outcome"),
                "pushr_message_id": result.get("pushr_message_id"),
                "produced_at": result.get("produced_at"),
            }
        )
