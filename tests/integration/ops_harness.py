"""Run `pushr-relay dlq` and `pushr-relay trace` as an operator does: a child process,
configured only by `PUSHR_RELAY_*` variables, while the relay runs in the test's loop."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from tests.integration.relay_harness import REPO_ROOT, relay_env

COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.out.splitlines() if line.strip()]


async def pushr_relay(values: dict[str, Any], *args: str) -> Ran:
    """`python -m service ARGS` with the relay's settings `values`; bounded in time."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        *args,
        cwd=REPO_ROOT,
        env=relay_env(values),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of `topic` now (the end is read first, so this ends)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = consumer.assignment()
        while not partitions:
            await asyncio.sleep(0.05)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        found: list[Any] = []

        async def drain() -> None:
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    found.extend(batch)

        await asyncio.wait_for(drain(), 30)
    finally:
        await consumer.stop()
    return found
