"""Transport comparison against the sandbox: httpx's default transport vs the service's
(httpx API on its default transport, `service.pushr.transport.build_http_client`) vs a
plain aiohttp ClientSession, at several numbers of requests in flight.

    .venv/bin/python -m tests.bench.transport_compare [--seconds 3] [--concurrency 1,16,64]
        [--recipients 1] [--no-pin]

The sandbox runs in a child process on CPU 0, each client loop in its own child process on
CPU 1 (taskset, when there are two CPUs); the loops are `tests.bench.ceilings http`, the same
ones `run.py` uses as ceilings. Prints requests/s and CPU microseconds per request (the
latter is steadier on a shared machine). Not collected by pytest (no `test_` prefix).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from tests.bench.procs import Children, python_cmd, taskset_available

CLIENTS = ("httpx", "service", "aiohttp")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.transport_compare")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--recipients", type=int, default=1)
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args(argv)
    pin = not args.no_pin and taskset_available()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    children = Children()
    rows: list[tuple[str, int, dict[str, float]]] = []
    try:
        sandbox = children.spawn(
            python_cmd("-m", "service", "sandbox", "--port", "0"),
            cpu=0 if pin else None,
            stdout=subprocess.PIPE,
        )
        assert sandbox.stdout is not None
        line = sandbox.stdout.readline().strip()
        if not line.startswith("SANDBOX_URL="):
            print(f"sandbox did not start: {line!r}", file=sys.stderr)
            return 1
        url = line.removeprefix("SANDBOX_URL=")
        for level in levels:
            for client in CLIENTS:
                proc = children.spawn(
                    python_cmd(
                        *("-m", "tests.bench.ceilings", "http", "--client", client),
                        *("--url", url, "--concurrency", str(level)),
                        *("--recipients", str(args.recipients), "--seconds", str(args.seconds)),
                    ),
                    cpu=1 if pin else None,
                    stdout=subprocess.PIPE,
                )
                out, _ = proc.communicate(timeout=args.seconds + 60)
                children.stop(proc)
                result = json.loads(out.strip().splitlines()[-1])
                rows.append((client, level, result))
                print(
                    f"{client:>8} x{level:<3} {result['requests_per_s']:>9,.0f} req/s "
                    f"{result['cpu_us_per_request']:>6.0f} us CPU/req",
                    file=sys.stderr,
                )
    finally:
        children.stop_all()
    print(f"\npinning: {'sandbox CPU 0, client CPU 1' if pin else 'none'}\n")
    print("| client | in flight | requests/s | CPU µs / request | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    names = {
        "httpx": "httpx default transport",
        "service": "service (httpx on the relay's transport)",
        "aiohttp": "aiohttp ClientSession",
    }
    for client, level, r in rows:
        print(
            f"| {names[client]} | {level} | {r['requests_per_s']:,.0f} "
            f"| {r['cpu_us_per_request']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
