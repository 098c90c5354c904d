"""Runs one peer on a scenario's events and measures it the way the relay is measured.

The peer gets an inbound topic of its own and publishes to one of its own (LogAppendTime).
The bench produces the scenario's warm-up events and waits for their results (at most
`warmup_seconds` once the first result is in), then produces the throughput burst as fast as
it can: the rate is the results whose broker time is past the burst's first produce
timestamp, over the broker time from that timestamp to the last of them. The wait ends when
every event has a result or after `seconds`; CPU seconds over the same window come from
/proc/<pid>/stat, peak RSS from VmHWM. A result whose requests were not all answered 201 is
counted apart (`failed`), never as work done.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from tests.bench.peers import PEERS
from tests.bench.peers.java_build import ensure_built
from tests.bench.procs import ROOT, Children, cpu_seconds, python_cmd, status_kib
from tests.bench.reader import TopicReader

START_BOUND_S = 120.0  # longest wait for a peer's first result (JVM start, group join)
Events = list[tuple[str, bytes]]  # (event_id, JSON bytes)


@dataclass(frozen=True)
class PeerRun:
    """Where one peer runs: its topics, the sandbox, the CPU, the events and the bounds."""

    scenario: str
    bootstrap: str
    in_topic: str
    out_topic: str
    sandbox_url: str
    concurrency: int
    partitions: int
    batch_size: int
    warmup: Events
    burst: Events
    warmup_seconds: float
    seconds: float
    cpu: int | None
    logs: Path


class ResultReader(TopicReader):
    """Remembers the broker time of each result, and which results were not all 201."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(bootstrap, topic, poll_ms=100)
        self.done_ms: dict[str, int] = {}  # event_id -> broker time of its result
        self.failed: set[str] = set()

    def take(self, record: Any) -> None:
        result = orjson.loads(record.value)
        if any(status != 201 for status in result["http_status"]):
            self.failed.add(result["event_id"])
        else:
            self.done_ms.setdefault(result["event_id"], record.timestamp)

    def count(self, ids: list[str]) -> int:
        return sum(1 for i in ids if i in self.done_ms or i in self.failed)

    async def wait(self, ids: list[str], need: int, bound_s: float, proc: Any) -> None:
        """Until `need` of `ids` have a result, `bound_s` seconds pass, or the peer exits."""
        await self.wait_until(
            lambda: self.count(ids) >= need or proc.poll() is not None, bound_s, tick=0.2
        )


def command(name: str, run: PeerRun, group: str) -> list[str]:
    total = len(run.warmup) + len(run.burst)
    common = {
        "--bootstrap": run.bootstrap, "--topic": run.in_topic, "--out-topic": run.out_topic,
        "--group": group, "--url": run.sandbox_url, "--concurrency": str(run.concurrency),
        "--count": str(total), "--batch-size": str(run.batch_size),
        # the bench stops the peer sooner; this bounds it should the bench die first
        "--seconds": str(2 * START_BOUND_S + run.warmup_seconds + run.seconds),
    }  # fmt: skip
    flat = [item for pair in common.items() for item in pair]
    if name == "parallel-consumer":
        return [*ensure_built(ROOT), *flat]
    policy, workers = {
        "faststream-ack-first": ("ack_first", run.concurrency),
        "faststream-ack": ("ack", run.partitions),
    }[name]
    return python_cmd(
        "-m", "tests.bench.peers.faststream_peer", *flat,
        "--ack-policy", policy, "--workers", str(workers),
    )  # fmt: skip


async def produce(bootstrap: str, topic: str, events: Events) -> int:
    """Produces `events` as fast as acks allow; returns the first produce timestamp (ms)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        first = time.time_ns() // 1_000_000
        futures = [
            await producer.send(topic, raw, key=eid.encode(), timestamp_ms=time.time_ns() // 10**6)
            for eid, raw in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return first


async def run_peer(name: str, run: PeerRun, children: Children) -> dict[str, Any]:
    peer = PEERS[name]
    out: dict[str, Any] = {
        "label": peer.label.format(n=run.concurrency),
        "guarantees": peer.guarantees.__dict__,
    }
    try:
        cmd = await asyncio.to_thread(command, name, run, f"peer-{run.out_topic}")
    except RuntimeError as exc:
        return {**out, "error": str(exc).splitlines()[0]}
    reader = ResultReader(run.bootstrap, run.out_topic)
    await reader.start()
    log_path = run.logs / f"peer-{name}-{run.scenario}.log"
    log = log_path.open("w")
    env = {"PUSHR_PUBLIC_KEY": DEMO_PUBLIC_KEY, "PUSHR_SECRET_KEY": DEMO_SECRET_KEY}
    proc = children.spawn(cmd, cpu=run.cpu, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    warm_ids = [eid for eid, _ in run.warmup]
    burst_ids = [eid for eid, _ in run.burst]
    try:
        await produce(run.bootstrap, run.in_topic, run.warmup)
        await reader.wait(warm_ids, 1, START_BOUND_S, proc)
        if reader.count(warm_ids) == 0:
            why = f"exit {proc.returncode}" if proc.poll() is not None else "no result"
            return {**out, "error": f"{why} within {START_BOUND_S:.0f}s (see {log_path})"}
        await reader.wait(warm_ids, len(warm_ids), run.warmup_seconds, proc)
        cpu_before = cpu_seconds(proc.pid)
        first_ms = await produce(run.bootstrap, run.in_topic, run.burst)
        await reader.wait(burst_ids, len(burst_ids), run.seconds, proc)
        cpu_used = cpu_seconds(proc.pid) - cpu_before
        peak_kib = status_kib(proc.pid, "VmHWM")
    finally:
        code = children.stop(proc)
        await reader.stop()
    # warm-up events still running when the burst starts count too: they are work done
    done = [ms for ms in reader.done_ms.values() if ms >= first_ms]
    span_s = max(max(done, default=first_ms) - first_ms, 1) / 1000
    return {
        **out,
        "events": len(done),
        "burst_done": reader.count(burst_ids) == len(burst_ids),
        "failed": len(reader.failed),
        "seconds": span_s,
        "events_per_s": len(done) / span_s if done else None,
        "cpu_s_per_1000_events": 1000 * cpu_used / len(done) if done else None,
        "peak_rss_mib": peak_kib / 1024,
        "exit_code": code,
    }
