"""What every scenario of `tests.bench.run` shares: the sandbox, the relay's environment,
the ceilings and baselines as child processes, the peers, and the profiler."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from service.settings import Settings
from tests.bench.events import Scenario, event
from tests.bench.peers.harness import PeerRun, run_peer
from tests.bench.procs import ROOT, Children, python_cmd, taskset_available

DEFAULTS = Settings()
IN_FLIGHT = DEFAULTS.http_max_connections
BATCH_SIZE = DEFAULTS.batch_size
PARTITIONS = 2
WAIT_BOUND_S = 240.0  # longest wait for a phase's final statuses


class Bench:
    def __init__(self, args: argparse.Namespace, children: Children, bootstrap: str) -> None:
        self.args = args
        self.children = children
        self.bootstrap = bootstrap
        self.pin = not args.no_pin and taskset_available()
        self.sandbox_cpu = 0 if self.pin else None
        self.work_cpu = 1 if self.pin else None
        self.sandbox_url = ""
        self.sandbox: subprocess.Popen[Any] | None = None
        self.run_id = time.strftime("%H%M%S")
        self.logs = ROOT / "reports" / "bench-logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    # --- sandbox ---------------------------------------------------------------------------
    async def start_sandbox(self) -> None:
        log = (self.logs / "sandbox.log").open("w")
        self.sandbox = self.children.spawn(
            python_cmd("-m", "service", "sandbox", "--port", "0", "--seed", "1"),
            cpu=self.sandbox_cpu,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        log.close()
        assert self.sandbox.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.sandbox.stdout.readline), 60)
        if not line.startswith("SANDBOX_URL="):
            raise RuntimeError(f"sandbox did not start: {line!r} (see {self.logs}/sandbox.log)")
        self.sandbox_url = line.strip().removeprefix("SANDBOX_URL=")

    def _admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        base = self.sandbox_url.removesuffix("/api/client")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{base}/_sandbox/{path}",
            data=data,
            headers={"Content-Type": "application/json"},
            method="GET" if body is None else "POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def prepare_sandbox(self, latency_ms: float) -> None:
        """Fresh state (traffic, messages, balance) and the scenario's latency."""
        self._admin("reset", {})
        self._admin("faults", {"latency_ms": latency_ms} if latency_ms else {})

    # --- child processes -------------------------------------------------------------------
    def relay_env(self, topics: dict[str, str]) -> dict[str, str]:
        return {
            "PUSHR_RELAY_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PUSHR_RELAY_IN_TOPIC": topics["in"],
            "PUSHR_RELAY_OUT_TOPIC": topics["out"],
            "PUSHR_RELAY_DLQ_TOPIC": topics["dlq"],
            "PUSHR_RELAY_GROUP_ID": f"relay-{topics['in']}",
            "PUSHR_RELAY_PUSHR_BASE_URL": self.sandbox_url,
            "PUSHR_RELAY_PUSHR_API_KEY_PUBLIC": DEMO_PUBLIC_KEY,
            "PUSHR_RELAY_PUSHR_API_KEY_SECRET": DEMO_SECRET_KEY,
            "PUSHR_RELAY_PUSHR_BUSINESS_ID": "1",
            "PUSHR_RELAY_HTTP_HOST": "127.0.0.1",
            "PUSHR_RELAY_HTTP_PORT": "0",
            "PUSHR_RELAY_LEDGER_BACKEND": "memory",
            # The benchmark sends one text to far more than 10,000 recipients on purpose: the
            # guard still counts them (its cost is measured) but never holds the account.
            "PUSHR_RELAY_BLAST_RADIUS_RECIPIENTS": str(10**9),
            **({"PUSHR_RELAY_LOG_LEVEL": self.args.relay_log_level}),
        }

    async def ceiling(self, *args: str, bound: float = 120.0) -> dict[str, Any]:
        proc = self.children.spawn(
            python_cmd("-m", "tests.bench.ceilings", *args),
            cpu=self.work_cpu,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = await asyncio.to_thread(proc.communicate, None, bound)
        except subprocess.TimeoutExpired:
            self.children.stop(proc)
            return {"error": f"timed out after {bound}s"}
        self.children.stop(proc)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            return {"error": f"exit {proc.returncode}: {err.strip()[-500:]}"}
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    async def peers(self, sc: Scenario, topics: dict[str, str]) -> dict[str, Any]:
        """Each selected peer in turn on the scenario's events (send-sms events only)."""
        if sc.kind != "sms" or sc.key not in self.args.peer_scenarios:
            return {}
        warmup = [event(sc, "w", i) for i in range(sc.warmup)]
        burst = [event(sc, "t", i) for i in range(sc.events)]
        # A burst of few events, all in flight at once, finishes in one lump at the end: a
        # window would cut it short, so the peer gets the relay's bound for all of it.
        few = sc.events <= 4 * IN_FLIGHT
        seconds = WAIT_BOUND_S if few else self.args.peer_seconds
        results: dict[str, Any] = {}
        for name in self.args.peers:
            self.prepare_sandbox(sc.latency_ms)
            run = PeerRun(
                scenario=sc.key,
                bootstrap=self.bootstrap,
                in_topic=topics[f"peer-{name}-in"],
                out_topic=topics[f"peer-{name}"],
                sandbox_url=self.sandbox_url,
                concurrency=IN_FLIGHT,
                partitions=PARTITIONS,
                batch_size=BATCH_SIZE,
                warmup=warmup,
                burst=burst,
                warmup_seconds=self.args.peer_seconds,
                seconds=seconds,
                cpu=self.work_cpu,
                logs=self.logs,
            )
            results[name] = await run_peer(name, run, self.children)
            shown = {k: v for k, v in results[name].items() if k not in ("label", "guarantees")}
            print(f"   peer {name}: {shown}", file=sys.stderr, flush=True)
        return results

    async def profile(self, pid: int, sc: Scenario) -> None:
        """py-spy over a second throughput burst (only with --profile)."""
        out = Path(self.args.out).parent / f"profile-{sc.key}.txt"  # the cost table's input
        spy = Path(sys.executable).with_name("py-spy")
        proc = self.children.spawn(
            [
                str(spy),
                "record",
                "--format",
                "raw",
                "-o",
                str(out),
                "--pid",
                str(pid),
                "-d",
                "8",
                "-r",
                "200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)
        # the burst is not measured, only sampled
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await producer.start()
        try:
            topic = f"bench-{self.run_id}-{sc.key}-in"
            for i in range(sc.events):
                eid, raw = event(sc, "x", i)
                await producer.send(topic, raw, key=eid.encode())
            await producer.flush()
        finally:
            await producer.stop()
        await asyncio.to_thread(proc.wait, 30)
        self.children.stop(proc)
        print(f"   profile: {out}", file=sys.stderr)
