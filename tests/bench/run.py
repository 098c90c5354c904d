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
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

from service.devkit.broker.local_broker import LocalKafka
from tests.bench import lanes, report
from tests.bench.events import scenarios
from tests.bench.peers import PEERS, QUICK_PEERS
from tests.bench.procs import ROOT, Children, cpu_affinity
from tests.bench.relay_bench import BATCH_SIZE, DEFAULTS, IN_FLIGHT, PARTITIONS, Bench
from tests.bench.scenario import measure


class Interrupted(Exception):
    pass


async def bench(args: argparse.Namespace, children: Children, bootstrap: str) -> dict[str, Any]:
    b = Bench(args, children, bootstrap)
    await b.start_sandbox()
    assert b.sandbox is not None
    selected = [s for s in scenarios(args.quick) if s.key in args.scenarios]
    results = []
    for sc in selected:
        results.append(await measure(b, sc))
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
        args.ceiling_seconds = 1.0 if args.quick else 5.0
    if args.peers is None:
        args.peers = ",".join(QUICK_PEERS if args.quick else PEERS)
    args.peers = [n.strip() for n in args.peers.split(",") if n.strip() and n.strip() != "none"]
    unknown = [n for n in args.peers if n not in PEERS]
    if unknown:
        p.error(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    if args.peer_scenarios is None:
        args.peer_scenarios = "a" if args.quick else "abc"
    if args.peer_seconds is None:
        args.peer_seconds = 1.5 if args.quick else 8.0
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
