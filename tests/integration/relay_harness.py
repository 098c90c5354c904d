"""Run the real relay (in-process, or as a `python -m service run` subprocess) against the
session broker and a sandbox, and read what it publishes. Used by the integration tests;
nothing here is faked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from service.app import run
from service.clock import Clock
from service.contract.phones import normalise_phone
from service.devkit.broker.processes import die_with_parent_hook
from service.devkit.sandbox import RunningSandbox
from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from service.settings import Settings
from tests.fixtures.metrics import sample_value

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Topics:
    inbound: str
    outbound: str
    dlq: str


async def make_topics(topic_factory: Any, partitions: int = 1) -> Topics:
    return Topics(
        inbound=await topic_factory("in", partitions=partitions),
        outbound=await topic_factory("out", partitions=partitions),
        dlq=await topic_factory("dlq"),
    )


def relay_values(
    bootstrap: str, sandbox: RunningSandbox, topics: Topics, **overrides: Any
) -> dict[str, Any]:
    """The settings the tests run the relay with, as plain values (see `relay_env`)."""
    return {
        "kafka_bootstrap_servers": bootstrap,
        "in_topic": topics.inbound,
        "out_topic": topics.outbound,
        "dlq_topic": topics.dlq,
        "group_id": f"relay-{topics.inbound}",
        "pushr_base_url": sandbox.url,
        "pushr_api_key_public": DEMO_PUBLIC_KEY,
        "pushr_api_key_secret": DEMO_SECRET_KEY,
        "pushr_business_id": 1,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "retry_backoff_base": 0.05,
        "retry_backoff_cap": 0.5,
        "breaker_open_seconds": 0.5,
        "balance_recheck_seconds": 0.3,
        "shutdown_grace_seconds": 10.0,
        "revoke_deadline_seconds": 5.0,
        "ledger_lease_seconds": 5.0,
        **overrides,
    }


def relay_settings(
    bootstrap: str, sandbox: RunningSandbox, topics: Topics, **overrides: Any
) -> Settings:
    return Settings.model_validate(relay_values(bootstrap, sandbox, topics, **overrides))


def redis_ledger(redis_url: str, key_prefix: str) -> dict[str, Any]:
    """Overrides for a Redis ledger under the test's own key prefix."""
    return {
        "ledger_backend": "redis",
        "redis_url": redis_url,
        "ledger_key_prefix": f"{key_prefix}ledger:",
    }


def relay_env(values: dict[str, Any]) -> dict[str, str]:
    """`PUSHR_RELAY_*` variables for a relay subprocess; the parent's own relay, Kafka and
    Redis variables are dropped so only `values` configure it."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PUSHR_RELAY_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")
    }
    for name, value in values.items():
        if value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        inherited[f"PUSHR_RELAY_{name.upper()}"] = text
    return inherited


@dataclass
class RunningRelay:
    settings: Settings
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[int] | None = None

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The sample's value; a metric or label set the relay does not export raises."""
        return sample_value(self.registry, name, labels)

    async def stop(self) -> int:
        self.stop_event.set()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 60)


@contextlib.asynccontextmanager
async def running_relay(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[RunningRelay]:
    relay = RunningRelay(settings)
    relay.task = asyncio.create_task(
        run(
            settings,
            clock=clock,
            registry=relay.registry,
            stop=relay.stop_event,
            install_signals=False,
        )
    )
    try:
        yield relay
    finally:
        if not relay.task.done():
            await relay.stop()
        elif (exc := relay.task.exception()) is not None:
            raise exc


class RelayProcess:
    """`python -m service run` as a child process, configured only by `PUSHR_RELAY_*`
    variables; its JSON log lines go to `log_path`. The kernel kills it should the test
    process die first."""

    def __init__(self, values: dict[str, Any], log_path: Path) -> None:
        self.values = values
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> RelayProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "run"],
                cwd=REPO_ROOT,
                env=relay_env(self.values),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent_hook(),  # noqa: PLW1509 - forked from the test thread
            )
        return self

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines this incarnation wrote (non-JSON lines are kept as `raw`)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read()
        except FileNotFoundError:
            return []
        lines: list[dict[str, Any]] = []
        for line in text.splitlines():
            try:
                parsed = orjson.loads(line)
            except orjson.JSONDecodeError:
                parsed = {"raw": line.decode("utf-8", "replace")}
            lines.append(parsed if isinstance(parsed, dict) else {"raw": str(parsed)})
        return lines

    def logged(self, event: str) -> bool:
        return any(line.get("event") == event for line in self.log_lines())

    async def wait_logged(self, event: str, within: float = 30.0) -> None:
        await eventually(lambda: self.logged(event) or not self.running, within=within)
        if not self.logged(event):
            raise AssertionError(f"relay exited before logging {event!r}: {self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, within: float = 30.0) -> int:
        await eventually(lambda: not self.running, within=within, interval=0.05)
        assert self.proc is not None
        return self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(str(line) for line in self.log_lines()[-lines:])

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


@contextlib.asynccontextmanager
async def relay_process(values: dict[str, Any], log_path: Path) -> AsyncIterator[RelayProcess]:
    relay = RelayProcess(values, log_path).start()
    try:
        yield relay
    finally:
        relay.kill()


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], within: float = 30.0, interval: float = 0.1
) -> None:
    """Bounded poll until `predicate()` holds; fails the test (TimeoutError) otherwise."""

    async def until() -> None:
        while True:
            answer = predicate()
            if not isinstance(answer, bool):
                answer = await answer
            if answer:
                return
            await asyncio.sleep(interval)

    await asyncio.wait_for(until(), within)


async def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes | dict[str, Any]],
    *,
    concurrent: bool = False,
) -> None:
    """Produce in order; `concurrent` sends all before waiting for the acknowledgements
    (still in order per partition), which is much faster for many events."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = []
        for value in values:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            key = value.get("event_id") if isinstance(value, dict) else None
            encoded = key.encode() if key else None
            if concurrent:
                pending.append(await producer.send(topic, raw, key=encoded))
            else:
                await producer.send_and_wait(topic, raw, key=encoded)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The group's committed positions, by (topic, partition)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def group_members(bootstrap: str, group: str) -> tuple[str, int]:
    """(state, number of members) of a consumer group, e.g. ("Stable", 2)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _error, _group, state, _ptype, _protocol, members, *_ = response.groups[0]
    return str(state), len(members)


async def group_stable_with(bootstrap: str, group: str, members: int) -> bool:
    """The group has settled on `members` members (each owns its partitions); a group whose
    coordinator is still being chosen has not."""
    try:
        state, count = await group_members(bootstrap, group)
    except KafkaError as error:
        if not error.retriable:
            raise
        return False
    return state == "Stable" and count == members


_DRAWN: set[str] = set()  # every number handed out in this test process


def phone_numbers(count: int, rng: random.Random | None = None) -> list[str]:
    """`count` valid Ghana mobile numbers in national form (`024…`), distinct from each other
    and from every number drawn before in the process: tests send one text to many events,
    and a number drawn twice would read as a duplicate send."""
    rng = rng or random.Random()
    numbers: dict[str, None] = {}
    for _ in range(count * 20):
        if len(numbers) == count:
            break
        candidate = f"024{rng.randrange(10**7):07d}"
        if candidate not in _DRAWN and normalise_phone(candidate)[0] is not None:
            numbers.setdefault(candidate, None)
    assert len(numbers) == count, "could not draw enough distinct numbers"
    _DRAWN.update(numbers)
    return list(numbers)


def international(national: str) -> str:
    """`024…` as Push.R and the sandbox spell it: `23324…`."""
    return "233" + national.removeprefix("0")


def sms_event(recipients: list[str], **fields: Any) -> dict[str, Any]:
    """A plain SMS request with a fresh event id; `fields` override or add any field."""
    return {
        "event_id": f"evt-{uuid.uuid4().hex[:12]}",
        "message": "Your code is 4821. It expires in 10 minutes.",
        "recipients": recipients,
        "sender_id": "PYWE",
        **fields,
    }


class TopicReader:
    """Reads a topic from the beginning in the background; waits for what a test expects."""

    def __init__(self, bootstrap: str, topic: str, **consumer_options: Any) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            **consumer_options,
        )
        self.records: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> Self:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        async for message in self._consumer:
            self.received(message)
            self.records.append(orjson.loads(message.value))
            self._arrived.set()

    def received(self, message: Any) -> None:
        """A hook for readers that keep more of each message than its decoded value."""

    async def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], within: float = 60.0
    ) -> list[dict[str, Any]]:
        """Bounded wait until `predicate(records)` holds; fails the test on timeout."""

        async def until() -> None:
            while not predicate(self.records):
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(until(), within)
        return self.records


def of_type(
    records: list[dict[str, Any]], kind: str, event_id: str | None = None
) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r.get("type") == kind and (event_id is None or r.get("event_id") == event_id)
    ]


def final_status(records: list[dict[str, Any]], event_id: str) -> dict[str, Any] | None:
    finals = [r for r in of_type(records, "status", event_id) if r["status"] not in ("accepted",)]
    return finals[-1] if finals else None


def final_state(records: list[dict[str, Any]], event_id: str) -> str | None:
    """The `status` field of the event's final status record; None while it has none."""
    final = final_status(records, event_id)
    return None if final is None else str(final["status"])


def all_final(event_ids: list[str]) -> Callable[[list[dict[str, Any]]], bool]:
    """A `TopicReader.wait_for` predicate: every event has a final status."""

    def check(records: list[dict[str, Any]]) -> bool:
        done = {
            r.get("event_id")
            for r in records
            if r.get("type") == "status" and r.get("status") != "accepted"
        }
        return done.issuperset(event_ids)

    return check
