"""Chaos tooling: the relay as a real subprocess (`python -m service run`), event sets whose
sends the sandbox can count, and the end-of-run check that compares input, sandbox traffic
and the outbound topic.

Every process started here dies with pytest (PR_SET_PDEATHSIG) and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from service.contract.phones import normalise_phone
from service.devkit.broker.processes import die_with_parent_hook
from service.devkit.sandbox import RunningSandbox
from service.devkit.sandbox.accounts import DEMO_PASSWORD, DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from tests.fixtures.redis import free_port
from tests.integration.relay_harness import TopicReader

ROOT = Path(__file__).resolve().parents[2]
FINAL_STATUSES = frozenset(
    {"sent", "rejected", "expired", "unknown", "partially_sent", "failed", "scheduled"}
)


def env_int(name: str, default: int) -> int:
    """A size knob: `CHAOS_EVENTS=2000 make chaos` runs a smaller full suite."""
    raw = os.environ.get(name)
    return int(raw) if raw else default


# --- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputEvent:
    event_id: str
    message: str
    recipient: str  # as sent in the event (local form)
    normalised: str  # 233XXXXXXXXX, as the sandbox counts it
    bulk: bool = False  # the one text many events share (else a text of its own, an OTP)

    def to_json(self, delivery: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "message": self.message,
            "recipients": [self.recipient],
            "sender_id": "PYWE",
        }
        if delivery:
            body["delivery"] = delivery
        return body


def make_events(count: int, *, start: int = 0, bulk_share: float = 0.0) -> list[InputEvent]:
    """`count` valid plain events, one recipient each, all recipients distinct: any
    (message, recipient) the sandbox accepts twice is a duplicate SMS. Every text is the
    event's own (an OTP), except for a `bulk_share` of events that all carry one text."""
    run = uuid.uuid4().hex[:8]
    every = round(1 / bulk_share) if bulk_share else 0
    events = []
    for i in range(start, start + count):
        local = f"024{1_000_000 + i:07d}"
        normalised, why = normalise_phone(local)
        assert normalised is not None, (local, why)
        bulk = bool(every) and i % every == every - 1
        text = f"Chaos run {run}: weekend sale at Osu" if bulk else f"Chaos run {run} code {i}"
        events.append(InputEvent(f"chaos-{run}-{i}", text, local, normalised, bulk))
    return events


# --- Kafka ----------------------------------------------------------------------------------
async def produce(
    bootstrap: str, topic: str, values: Iterable[bytes | dict[str, Any]]
) -> list[tuple[int, int]]:
    """Produce in pipelined chunks (acks=all); returns (partition, offset) per value, in order.
    A broker outage is retried by the producer."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=16 * 1024 * 1024,
        request_timeout_ms=30_000,
    )
    await producer.start()
    placed: list[tuple[int, int]] = []
    try:
        pending = []
        for value in values:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            key = value.get("event_id") if isinstance(value, dict) else None
            key_bytes = key.encode() if isinstance(key, str) else None
            pending.append(await producer.send(topic, raw, key=key_bytes))
            if len(pending) >= 500:
                placed += [(m.partition, m.offset) for m in await asyncio.gather(*pending)]
                pending.clear()
        placed += [(m.partition, m.offset) for m in await asyncio.gather(*pending)]
    finally:
        await producer.stop()
    return placed


async def uncommitted(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Partition -> records after the group's committed offset (empty: all committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not parts:
            await consumer.topics()
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts)
        behind = {}
        for tp in parts:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            if ends[tp] > done:
                behind[tp.partition] = ends[tp] - done
        return behind
    finally:
        await consumer.stop()
        await admin.close()


class Reader(TopicReader):
    """Reads a topic from the start in the background; records arrival times for recovery."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        # room for the largest outbound and dead-letter records a scenario produces
        super().__init__(
            bootstrap,
            topic,
            max_partition_fetch_bytes=32 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        self.raw_values: list[bytes] = []
        self.arrivals: list[float] = []

    def received(self, message: Any) -> None:
        self.raw_values.append(message.value)
        self.arrivals.append(time.monotonic())

    def finals(self) -> dict[str, dict[str, Any]]:
        """event id -> its last final status event (Push.R's delivery reports aside: they
        come later, from the status poller, and say nothing of the send)."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            if r.get("type") != "status" or r.get("reason") == "delivery_report":
                continue
            if r.get("status") in FINAL_STATUSES:
                out[str(r.get("event_id"))] = r
        return out

    def settled(self) -> dict[str, dict[str, Any]]:
        """`finals`, without those still waiting for a reconciliation verdict."""
        return {k: v for k, v in self.finals().items() if v.get("reason") != "reconciling"}

    def first_final_after(self, moment: float) -> float | None:
        for r, at in zip(self.records, self.arrivals, strict=False):
            if at >= moment and r.get("type") == "status" and r.get("status") in FINAL_STATUSES:
                return at
        return None


async def wait_until(
    predicate: Callable[[], bool],
    within: float,
    what: str,
    step: float = 0.2,
    explain: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Bounded wait; fails with `what` (never asserts on how long it took), and with what
    `explain` finds at that moment (what is still pending, and why)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            found = f"\n{await explain()}" if explain is not None else ""
            raise AssertionError(f"timed out waiting for {what}{found}")
        await asyncio.sleep(step)


# --- the relay as a process ----------------------------------------------------------------
@dataclass
class RelayConfig:
    bootstrap: str
    sandbox_url: str
    in_topic: str
    out_topic: str
    dlq_topic: str
    group_id: str
    redis_url: str | None
    key_prefix: str
    log_dir: Path
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHR_RELAY_")}
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        env.pop("REDIS_URL", None)
        values = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "IN_TOPIC": self.in_topic,
            "OUT_TOPIC": self.out_topic,
            "DLQ_TOPIC": self.dlq_topic,
            "GROUP_ID": self.group_id,
            "PUSHR_BASE_URL": self.sandbox_url,
            "PUSHR_API_KEY_PUBLIC": DEMO_PUBLIC_KEY,
            "PUSHR_API_KEY_SECRET": DEMO_SECRET_KEY,
            "PUSHR_BUSINESS_ID": "1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "LEDGER_BACKEND": "redis" if self.redis_url else "memory",
            "LEDGER_KEY_PREFIX": self.key_prefix,
            "LEDGER_LEASE_SECONDS": "4",
            "RETRY_BACKOFF_BASE": "0.05",
            "RETRY_BACKOFF_CAP": "1.0",
            "BREAKER_OPEN_SECONDS": "0.5",
            "HTTP_READ_TIMEOUT": "3",
            "HTTP_CONNECT_TIMEOUT": "2",
            "SHUTDOWN_GRACE_SECONDS": "10",
            "REVOKE_DEADLINE_SECONDS": "5",
            "HTTP_MAX_CONNECTIONS": "32",
            "LOG_LEVEL": "INFO",
        }
        if self.redis_url:
            values["REDIS_URL"] = self.redis_url
        values.update(self.extra)
        env.update({f"PUSHR_RELAY_{k}": v for k, v in values.items()})
        return env


class RelayProcess:
    """One `python -m service run`; stderr (JSON logs) appended to a file per incarnation."""

    _counter = 0

    def __init__(self, config: RelayConfig, name: str = "relay") -> None:
        self.config = config
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.logs: list[Path] = []
        self.started_at = 0.0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.running
        RelayProcess._counter += 1
        self.port = free_port()
        log = self.config.log_dir / f"{self.name}-{RelayProcess._counter}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.logs.append(log)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "run"],
                cwd=ROOT,
                env=self.config.env(self.port),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent_hook(),  # noqa: PLW1509 - prctl only
            )
        self.started_at = time.monotonic()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing drained or committed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait for the drain; SIGKILL after `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log_lines(self) -> Iterator[str]:
        for path in self.logs:
            with contextlib.suppress(OSError):
                yield from path.read_text(errors="replace").splitlines()


@contextlib.contextmanager
def relays(config: RelayConfig, count: int = 1) -> Iterator[list[RelayProcess]]:
    procs = [RelayProcess(config, f"relay{i}") for i in range(count)]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in procs:
            p.stop(timeout=20)


# --- the check ------------------------------------------------------------------------------
@dataclass
class Verdict:
    events: int
    lost: list[str]  # event ids without a final status, or without a send when due
    duplicates: int  # extra sends of a (message, recipient)
    unknown: int
    by_status: dict[str, int]
    missing_sends: list[str]

    def describe(self) -> str:
        return (
            f"events={self.events} lost={len(self.lost)} {self.lost[:5]} "
            f"duplicates={self.duplicates} unknown={self.unknown} statuses={self.by_status} "
            f"missing_sends={len(self.missing_sends)} {self.missing_sends[:5]}"
        )


def verdict(events: list[InputEvent], out: Reader, sandbox: RunningSandbox) -> Verdict:
    finals = out.finals()
    wanted = {e.event_id for e in events}
    lost = sorted(wanted - set(finals))
    by_status: dict[str, int] = {}
    for eid in wanted & set(finals):
        status = str(finals[eid]["status"])
        by_status[status] = by_status.get(status, 0) + 1
    traffic = sandbox.traffic
    missing = [
        e.event_id
        for e in events
        if finals.get(e.event_id, {}).get("status") == "sent"
        and traffic.sends_for(e.normalised, e.message) == 0
    ]
    mine = {(e.message, e.normalised) for e in events}
    duplicates = sum(
        d.times - 1 for d in traffic.duplicate_sends() if (d.message, d.recipient) in mine
    )
    return Verdict(
        events=len(events),
        lost=lost + missing,
        duplicates=duplicates,
        unknown=by_status.get("unknown", 0),
        by_status=by_status,
        missing_sends=[
            e.event_id for e in events if traffic.sends_for(e.normalised, e.message) == 0
        ],
    )


# --- leak check -----------------------------------------------------------------------------
_DIGIT_RUN = re.compile(r"\+?\d{9,}")


def leaks(texts: Iterable[str], numbers: set[str], secrets: Iterable[str]) -> list[str]:
    """Lines that carry a secret or one of `numbers` (233XXXXXXXXX) in full, in any of the
    forms 233…, +233…, 0…, or the bare 9-digit national number."""
    secrets = [s for s in secrets if s]
    national = {n[3:] for n in numbers}
    found = []
    for text in texts:
        if any(s in text for s in secrets):
            found.append(text[:300])
            continue
        for run in _DIGIT_RUN.findall(text):
            digits = run.lstrip("+")
            if digits in numbers or (len(digits) in (9, 10) and digits[-9:] in national):
                at = text.find(run)
                found.append(f"{run!r} in ...{text[max(0, at - 120) : at + 40]!r}")
                break
    return found


SECRETS = (DEMO_SECRET_KEY, DEMO_PASSWORD)
