"""The benchmark's peers do the relay's job on real parts: events from a real broker, send-sms
POSTs to the sandbox over HTTP, one result record per event on the outbound topic."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from tests.bench.peers.java_build import ensure_built
from tests.integration.relay_harness import TopicReader, of_type, produce

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ENV = {"PUSHR_PUBLIC_KEY": DEMO_PUBLIC_KEY, "PUSHR_SECRET_KEY": DEMO_SECRET_KEY}


def events(tag: str) -> list[dict[str, Any]]:
    """A single-recipient event and a 150-recipient one (two batches of 100 and 50)."""
    many = [f"0551{n:06d}" for n in range(150)]
    body = {"sender_id": "PYWE", "message": "Your order is ready."}
    return [
        {**body, "event_id": f"{tag}-one", "recipients": ["0558544343"]},
        {**body, "event_id": f"{tag}-many", "recipients": many},
    ]


async def run_peer(cmd: list[str]) -> dict[str, Any]:
    done = await asyncio.to_thread(
        subprocess.run, cmd, cwd=ROOT, env={**os.environ, **ENV}, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def peer_args(bootstrap: str, inbound: str, outbound: str, url: str) -> list[str]:
    return [
        *("--bootstrap", bootstrap, "--topic", inbound, "--out-topic", outbound),
        *("--group", f"peer-{uuid.uuid4().hex[:8]}", "--url", url, "--concurrency", "4"),
        *("--count", "2", "--seconds", "120", "--batch-size", "100"),
    ]


async def check_the_job(kafka_bootstrap, topic_factory, sandbox, cmd_of) -> None:
    inbound, outbound = await topic_factory("peer-in"), await topic_factory("peer-out")
    tag = uuid.uuid4().hex[:8]
    await produce(kafka_bootstrap, inbound, events(tag))
    async with TopicReader(kafka_bootstrap, outbound) as out:
        cmd = cmd_of(peer_args(kafka_bootstrap, inbound, outbound, sandbox.url))
        assert await run_peer(cmd) == {"events": 2}
        records = await out.wait_for(lambda rs: len(of_type(rs, "result")) >= 2)
    results = {r["event_id"]: r for r in of_type(records, "result")}
    assert results[f"{tag}-one"]["http_status"] == [201]
    assert results[f"{tag}-many"]["http_status"] == [201, 201]
    assert [b["recipients_count"] for b in results[f"{tag}-many"]["bodies"]] == [100, 50]
    sent = sandbox.traffic.accepted_requests("send-sms")
    assert sorted(r.recipients_count for r in sent) == [1, 50, 100]
    counts = sandbox.traffic.per_recipient_counts()
    assert len(counts) == 151
    # each number once, in Push.R's international form
    assert set(counts.values()) == {1}
    assert all(number.startswith("233") for number in counts)


@pytest.mark.parametrize("policy", ["ack_first", "ack"])
async def test_the_faststream_peer_sends_each_batch_and_publishes_one_result_per_event(
    kafka_bootstrap, topic_factory, sandbox, policy
) -> None:
    def cmd_of(args: list[str]) -> list[str]:
        module = "tests.bench.peers.faststream_peer"
        return [sys.executable, "-m", module, *args, "--ack-policy", policy, "--workers", "2"]

    await check_the_job(kafka_bootstrap, topic_factory, sandbox, cmd_of)


@pytest.mark.slow
async def test_the_parallel_consumer_peer_sends_each_batch_and_publishes_one_result_per_event(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    java = await asyncio.to_thread(ensure_built, ROOT)  # Maven and javac on first use
    await check_the_job(kafka_bootstrap, topic_factory, sandbox, lambda args: [*java, *args])
