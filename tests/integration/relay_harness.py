"""Run the real relay in-process against the session broker and a sandbox, and read
what it publishes. Used by the integration tests; nothing here is faked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.app import run
from service.pushr.sandbox import RunningSandbox
from service.pushr.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from service.settings import Settings


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


def relay_settings(
    bootstrap: str, sandbox: RunningSandbox, topics: Topics, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
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
    return Settings.model_validate(values)


@dataclass
class RunningRelay:
    settings: Settings
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[int] | None = None

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value

    async def stop(self) -> int:
        self.stop_event.set()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 60)


@contextlib.asynccontextmanager
async def running_relay(settings: Settings) -> AsyncIterator[RunningRelay]:
    relay = RunningRelay(settings)
    relay.task = asyncio.create_task(
        run(settings, registry=relay.registry, stop=relay.stop_event, install_signals=False)
    )
    try:
        yield relay
    finally:
        if not relay.task.done():
            await relay.stop()
        elif (exc := relay.task.exception()) is not None:
            raise exc


async def produce(bootstrap: str, topic: str, values: list[bytes | dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            key = value.get("event_id") if isinstance(value, dict) else None
            await producer.send_and_wait(topic, raw, key=key.encode() if key else None)
    finally:
        await producer.stop()


class TopicReader:
    """Reads a topic from the beginning in the background; waits for what a test expects."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        self.records: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> TopicReader:
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
            self.records.append(orjson.loads(message.value))
            self._arrived.set()

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
