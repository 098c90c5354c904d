"""Runs one peer against a scenario's inbound topic and measures it from the broker's side.

The peer drains the inbound topic from the start with its own consumer group and publishes
to its own outbound topic (LogAppendTime). A reader counts those records: after the peer's
warm-up (its first `warmup` results, or `warmup_seconds` after its first one), the rate is
results / broker time between two snapshots `seconds` apart (or until every event is done);
CPU seconds over the same window come from /proc/<pid>/stat, peak RSS from VmHWM.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from tests.bench.peers import PEERS
from tests.bench.peers.java_build import ensure_built
from tests.bench.procs import ROOT, Children, cpu_seconds, python_cmd, status_kib

START_BOUND_S = 120.0  # longest wait for a peer's first result (JVM start, group join)


@dataclass(frozen=True)
class PeerRun:
    """Where one peer runs: the scenario's topics, the sandbox, the CPU and the bounds."""

    scenario: str
    bootstrap: str
    in_topic: str
    out_topic: str
    sandbox_url: str
    concurrency: int
    partitions: int
    batch_size: int
    total: int  # events in the inbound topic
    warmup: int
    warmup_seconds: float
    seconds: float
    cpu: int | None
    logs: Path


class ResultCounter:
    """Counts the peer's result records and remembers the newest broker timestamp."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=2000,
            fetch_max_bytes=16 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
        )  # fmt: skip
        self.records = 0
        self.newest_ms = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                self.records += len(records)
                self.newest_ms = max(self.newest_ms, *(r.timestamp for r in records))
            if batches:
                self._changed.set()

    async def wait(self, records: int, bound_s: float, proc: subprocess.Popen[Any]) -> None:
        """Until `records` results, `bound_s` seconds, or the peer's exit."""
        deadline = time.monotonic() + bound_s
        while self.records < records and time.monotonic() < deadline and proc.poll() is None:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.2)


def command(name: str, run: PeerRun, group: str) -> list[str]:
    common = {
        "--bootstrap": run.bootstrap, "--topic": run.in_topic, "--out-topic": run.out_topic,
        "--group": group, "--url": run.sandbox_url, "--concurrency": str(run.concurrency),
        "--count": str(run.total), "--batch-size": str(run.batch_size),
        # the bench stops the peer sooner; this bounds it should the bench die first
        "--seconds": str(START_BOUND_S + run.warmup_seconds + run.seconds + 30),
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
    counter = ResultCounter(run.bootstrap, run.out_topic)
    await counter.start()
    log_path = run.logs / f"peer-{name}-{run.scenario}.log"
    log = log_path.open("w")
    env = {"PUSHR_PUBLIC_KEY": DEMO_PUBLIC_KEY, "PUSHR_SECRET_KEY": DEMO_SECRET_KEY}
    proc = children.spawn(cmd, cpu=run.cpu, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        await counter.wait(1, START_BOUND_S, proc)
        if counter.records == 0:
            why = f"exit {proc.returncode}" if proc.poll() is not None else "no result"
            return {**out, "error": f"{why} within {START_BOUND_S:.0f}s (see {log_path})"}
        await counter.wait(run.warmup, run.warmup_seconds, proc)
        n0, t0, cpu0 = counter.records, counter.newest_ms, cpu_seconds(proc.pid)
        await counter.wait(run.total, run.seconds, proc)
        n1, t1, cpu1 = counter.records, counter.newest_ms, cpu_seconds(proc.pid)
        peak_kib = status_kib(proc.pid, "VmHWM")
    finally:
        code = children.stop(proc)
        await counter.stop()
    events, span_s = n1 - n0, max(t1 - t0, 1) / 1000
    return {
        **out,
        "events": events,
        "seconds": span_s,
        "events_per_s": events / span_s if events else None,
        "cpu_s_per_1000_events": 1000 * (cpu1 - cpu0) / events if events else None,
        "peak_rss_mib": peak_kib / 1024,
        "exit_code": code,
    }
