"""`make bench` / `make bench-quick`: the relay end to end against its ceilings, one run.

    .venv/bin/python -m tests.bench.run [--quick] [--scenarios abcde] [--no-pin]
        [--out reports/bench.json]

Starts its own Kafka broker (LocalKafka, in this process's care), the Push.R sandbox in a
child process (pinned to CPU 0 with taskset when there are two CPUs), and per scenario the
relay (`python -m service run`, pinned to CPU 1), then the ceilings and the naive baseline as
child processes under the same pinning, the same sandbox and the same concurrency
(`http_max_connections`). Everything is stopped on the way out, Ctrl-C and errors included.

Per scenario: warm-up events (waited for), a throughput phase (events produced as fast as
possible; rate = events / (last final status's broker timestamp - first produce timestamp)),
and a paced phase at half that rate for end-to-end latency (inbound CreateTime set by the
producer -> broker LogAppendTime of the event's final status on the outbound topic). CPU
seconds of the relay over the throughput phase come from /proc/<pid>/stat, peak RSS from
VmHWM. Output: a Markdown table on stdout, reports/bench.json and reports/bench.png.

Scenario e (priority lanes: critical events beside a bulk backlog at a 20 rps rate limit)
has phases of its own and no ceilings: `tests/bench/lanes.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.devkit.broker.local_broker import LocalKafka
from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from service.kafka.admin import create_topics
from service.settings import Settings
from tests.bench import lanes, report, targets
from tests.bench.events import Scenario, event, scenarios
from tests.bench.peers import PEERS, QUICK_PEERS
from tests.bench.peers.harness import PeerRun, run_peer
from tests.bench.procs import (
    ROOT,
    Children,
    cpu_affinity,
    cpu_seconds,
    python_cmd,
    status_kib,
    taskset_available,
)

DEFAULTS = Settings()
IN_FLIGHT = DEFAULTS.http_max_connections
BATCH_SIZE = DEFAULTS.batch_size
PARTITIONS = 2
WAIT_BOUND_S = 240.0  # longest wait for a phase's final statuses


class Interrupted(Exception):
    pass


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class OutboundReader:
    """Reads the outbound topic; remembers each event's final status and its broker time."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        self.finals: dict[str, tuple[int, str]] = {}  # event_id -> (broker ts ms, status)
        self.accepted: dict[str, int] = {}  # event_id -> broker ts ms of `accepted`
        self.records = 0
        self.timestamp_types: set[int] = set()
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
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for rec in records:
                    self.records += 1
                    value = rec.value
                    if b'"type":"status"' not in value:
                        continue
                    body = orjson.loads(value)
                    if body.get("status") == "accepted":
                        self.accepted.setdefault(body["event_id"], rec.timestamp)
                        continue
                    self.timestamp_types.add(rec.timestamp_type)
                    self.finals.setdefault(body["event_id"], (rec.timestamp, body["status"]))
            if batches:
                self._changed.set()

    async def wait_for(self, ids: list[str], bound: float) -> int:
        """Wait until every id has a final status (or `bound` s); returns how many are missing."""
        deadline = time.monotonic() + bound
        while True:
            missing = sum(1 for i in ids if i not in self.finals)
            if missing == 0 or time.monotonic() >= deadline:
                return missing
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(1.0, deadline - time.monotonic()))


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

    # --- one scenario ----------------------------------------------------------------------
    async def scenario(self, sc: Scenario) -> dict[str, Any]:
        print(f"\n== scenario {sc.key}: {sc.title}", file=sys.stderr, flush=True)
        self.prepare_sandbox(sc.latency_ms)
        prefix = f"bench-{self.run_id}-{sc.key}"
        peer_ins = [f"peer-{name}-in" for name in self.args.peers]
        peer_outs = [f"peer-{name}" for name in self.args.peers]
        topics = {
            k: f"{prefix}-{k}" for k in ("in", "out", "dlq", "naive-out", *peer_ins, *peer_outs)
        }
        inbound = ["in", *peer_ins]
        await create_topics(self.bootstrap, [topics[k] for k in inbound], partitions=PARTITIONS)
        await create_topics(
            self.bootstrap,
            [t for k, t in topics.items() if k not in inbound],
            partitions=PARTITIONS,
            config={"message.timestamp.type": "LogAppendTime"},
        )
        reader = OutboundReader(self.bootstrap, topics["out"])
        await reader.start()
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=4 * 1024 * 1024,
        )
        await producer.start()
        log = (self.logs / f"relay-{sc.key}.log").open("w")
        relay = self.children.spawn(
            python_cmd("-m", "service", "run"),
            cpu=self.work_cpu,
            env=self.relay_env(topics),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        produced: dict[str, int] = {}
        result: dict[str, Any] = {"scenario": sc.key, "title": sc.title, "params": asdict(sc)}
        try:
            affinity = cpu_affinity(relay.pid)

            async def send(phase: str, seq: int, payload: bytes, event_id: str) -> Any:
                ts = time.time_ns() // 1_000_000
                produced[event_id] = ts
                return await producer.send(
                    topics["in"], payload, key=event_id.encode(), timestamp_ms=ts
                )

            async def burst(phase: str, count: int) -> list[str]:
                payloads = [event(sc, phase, i) for i in range(count)]
                futures = [await send(phase, i, raw, eid) for i, (eid, raw) in enumerate(payloads)]
                await asyncio.gather(*futures)
                return [eid for eid, _ in payloads]

            # warm-up (also waits out the relay's start and group join)
            started = time.monotonic()
            warm = await burst("w", sc.warmup)
            missing = await reader.wait_for(warm, WAIT_BOUND_S)
            if relay.poll() is not None:
                raise RuntimeError(f"relay exited {relay.returncode}: see {log.name}")
            if missing:
                raise RuntimeError(f"warm-up: {missing} events without a final status")
            print(f"   warm-up done in {time.monotonic() - started:.1f}s", file=sys.stderr)

            # throughput
            cpu_before = cpu_seconds(relay.pid)
            ids = await burst("t", sc.events)
            missing = await reader.wait_for(ids, WAIT_BOUND_S)
            cpu_used = cpu_seconds(relay.pid) - cpu_before
            done = [i for i in ids if i in reader.finals]
            first = min(produced[i] for i in ids)
            last = max(reader.finals[i][0] for i in done) if done else first
            span = max(last - first, 1) / 1000
            rate = len(done) / span
            sat = [reader.finals[i][0] - produced[i] for i in done]
            print(f"   throughput: {rate:,.1f} events/s ({missing} missing)", file=sys.stderr)

            # paced at half the rate: end-to-end latency
            paced_rate = max(rate / 2, 1.0)
            paced_count = max(10, int(paced_rate * sc.paced_seconds))
            payloads = [event(sc, "p", i) for i in range(paced_count)]
            t0 = time.monotonic()
            futures = []
            for i, (eid, raw) in enumerate(payloads):
                delay = t0 + i / paced_rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                futures.append(await send("p", i, raw, eid))
            await asyncio.gather(*futures)
            paced_ids = [eid for eid, _ in payloads]
            paced_missing = await reader.wait_for(paced_ids, WAIT_BOUND_S)
            lat = [reader.finals[i][0] - produced[i] for i in paced_ids if i in reader.finals]
            # where the time goes: produce -> `accepted` published, `accepted` -> final
            to_accepted = [
                reader.accepted[i] - produced[i] for i in paced_ids if i in reader.accepted
            ]
            accepted_to_final = [
                reader.finals[i][0] - reader.accepted[i]
                for i in paced_ids
                if i in reader.finals and i in reader.accepted
            ]
            hwm_kib = status_kib(relay.pid, "VmHWM")
            rss_kib = status_kib(relay.pid, "VmRSS")
            statuses: dict[str, int] = {}
            for event_id in [*ids, *paced_ids]:
                if event_id in reader.finals:
                    final = reader.finals[event_id][1]
                    statuses[final] = statuses.get(final, 0) + 1
            if self.args.profile and sc.key in self.args.profile:
                await self.profile(relay.pid, sc)
        finally:
            code = self.children.stop(relay, timeout=30)
            await producer.stop()
            await reader.stop()
        per_event = sc.requests_per_event(BATCH_SIZE)
        result["service"] = {
            "events": len(done),
            "missing": missing,
            "events_per_s": rate,
            "recipients_per_s": rate * sc.recipients,
            "requests_per_s": rate * per_event,
            "latency_saturated_ms": _pcts(sat),
            "half_rate_events_per_s": paced_rate,
            "latency_half_rate_ms": _pcts(lat),
            "half_rate_produce_to_accepted_ms": _pcts(to_accepted),
            "half_rate_accepted_to_final_ms": _pcts(accepted_to_final),
            "half_rate_missing": paced_missing,
            "p99_overhead_ms": _overhead(_pcts(lat)["p99"], sc.latency_ms),
            "cpu_s_per_1000_events": 1000 * cpu_used / max(len(done), 1),
            "cpu_utilisation": cpu_used / span,
            "peak_rss_mib": hwm_kib / 1024,
            "rss_at_end_mib": rss_kib / 1024,
            "final_statuses": statuses,
            "relay_exit_code": code,
            "relay_cpus": affinity,
            "outbound_timestamp_types": sorted(reader.timestamp_types),
        }

        # ceilings and baseline: same sandbox, same concurrency, relay stopped
        secs = str(self.args.ceiling_seconds)
        total = sc.warmup + sc.events + paced_count
        shape = ["--shape", "template" if sc.kind == "template" else "sms"]
        batch_recipients = str(min(sc.recipients, BATCH_SIZE))
        self.prepare_sandbox(sc.latency_ms)
        kafka_args = ["--bootstrap", self.bootstrap, "--topic", topics["in"]]
        ceilings: dict[str, Any] = {
            "kafka": await self.ceiling("kafka", *kafka_args, "--count", str(total)),
        }
        for client in self.args.clients:
            ceilings[f"http_{client}"] = await self.ceiling(
                *("http", "--client", client, "--url", self.sandbox_url, *shape),
                *("--recipients", batch_recipients, "--concurrency", str(IN_FLIGHT)),
                *("--seconds", secs),
            )
            req = ceilings[f"http_{client}"].get("requests_per_s")
            if req is not None:
                ceilings[f"http_{client}"]["events_per_s"] = req / per_event
        self.prepare_sandbox(sc.latency_ms)
        naive = await self.ceiling(
            *("naive", *kafka_args, "--out-topic", topics["naive-out"]),
            *("--url", self.sandbox_url, "--count", str(total)),
            *("--seconds", str(sc.naive_seconds), "--batch-size", str(BATCH_SIZE)),
        )
        result["ceilings"] = ceilings
        result["naive"] = naive
        result["peers"] = await self.peers(sc, topics)
        result["best_peer"] = targets.best_peer(result["peers"])
        result["fastest_peer"] = targets.fastest_peer(result["peers"])
        result["ratios"] = targets.ratios(sc, result, IN_FLIGHT, BATCH_SIZE)
        result["targets"] = targets.evaluate(sc.key, result)
        for key in ("kafka", *(f"http_{c}" for c in self.args.clients)):
            print(f"   {key}: {ceilings[key]}", file=sys.stderr)
        print(f"   naive: {naive}", file=sys.stderr, flush=True)
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


def _overhead(latency_ms: float | None, provider_latency_ms: float) -> float | None:
    """The relay's share of a latency percentile: what Push.R's own latency leaves over."""
    return None if latency_ms is None else latency_ms - provider_latency_ms


def _pcts(values: list[int]) -> dict[str, float | None]:
    floats = [float(v) for v in values]
    return {
        "p50": percentile(floats, 0.50),
        "p95": percentile(floats, 0.95),
        "p99": percentile(floats, 0.99),
        "n": float(len(floats)),
    }


async def bench(args: argparse.Namespace, children: Children, bootstrap: str) -> dict[str, Any]:
    b = Bench(args, children, bootstrap)
    await b.start_sandbox()
    assert b.sandbox is not None
    selected = [s for s in scenarios(args.quick) if s.key in args.scenarios]
    results = []
    for sc in selected:
        results.append(await b.scenario(sc))
    lane_result = await lanes.scenario_e(b, args.quick) if "e" in args.scenarios else None
    return {
        "lanes": lane_result,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mode": "quick" if args.quick else "full",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "mem_total_gib": _mem_gib(),
        },
        "pinning": {
            "taskset": b.pin,
            "sandbox_cpus": cpu_affinity(b.sandbox.pid),
            "relay_ceilings_naive_cpu": b.work_cpu,
            "broker_and_load_generator": "unpinned",
        },
        "settings": {
            "http_max_connections": IN_FLIGHT,
            "batch_size": BATCH_SIZE,
            "max_in_flight": DEFAULTS.max_in_flight,
            "max_in_flight_per_partition": DEFAULTS.max_in_flight_per_partition,
            "http_transport": DEFAULTS.http_transport,
            "ledger_backend": "memory",
            "relay_log_level": args.relay_log_level,
            "partitions": PARTITIONS,
        },
        "scenarios": results,
    }


def _mem_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="fewer events, shorter phases")
    p.add_argument("--scenarios", default="abcde", help="subset, e.g. ac")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--out", default=str(ROOT / "reports" / "bench.json"))
    p.add_argument("--clients", default="service,aiohttp", help="raw loops: service,aiohttp,httpx")
    p.add_argument("--ceiling-seconds", type=float, default=None)
    p.add_argument("--relay-log-level", default="INFO")
    p.add_argument("--profile", default="", help="scenarios to py-spy after measuring, e.g. ac")
    p.add_argument("--peers", default=None, help=f"subset of {','.join(PEERS)}, or none")
    p.add_argument("--peer-scenarios", default=None, help="where peers run (default abc; quick a)")
    p.add_argument("--peer-seconds", type=float, default=None, help="each peer's measured window")
    args = p.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if args.ceiling_seconds is None:
        args.ceiling_seconds = 2.0 if args.quick else 5.0
    if args.peers is None:
        args.peers = ",".join(QUICK_PEERS if args.quick else PEERS)
    args.peers = [n.strip() for n in args.peers.split(",") if n.strip() and n.strip() != "none"]
    unknown = [n for n in args.peers if n not in PEERS]
    if unknown:
        p.error(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    if args.peer_scenarios is None:
        args.peer_scenarios = "a" if args.quick else "abc"
    if args.peer_seconds is None:
        args.peer_seconds = 2.0 if args.quick else 8.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    children = Children()

    def on_term(signum: int, frame: object) -> None:
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        with LocalKafka(nodes=1) as kafka:
            print(f"broker at {kafka.bootstrap_servers}", file=sys.stderr, flush=True)
            data = asyncio.run(bench(args, children, kafka.bootstrap_servers))
            children.stop_all()
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"bench: interrupted ({exc or 'Ctrl-C'}); stopping children", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
    data["wall_seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    chart = out.with_suffix(".png")
    if data["scenarios"]:
        report.chart(data, chart)
    print(report.markdown(data))
    print("\ntargets:", *report.target_lines(data), sep="\n  ")
    print(f"\nwrote {out} and {chart} in {data['wall_seconds']}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
