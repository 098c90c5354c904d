"""Serving rate of the sandbox's send-sms endpoint, measured with wrk from another process.

    .venv/bin/python tests/bench/sandbox_load.py [--duration 10] [--connections 64]
        [--threads 1] [--recipients 1] [--pin]

Starts `python -m service sandbox --port 0` in a child process, reads its SANDBOX_URL line,
runs wrk (keep-alive, a Lua script POSTing the documented single-recipient body with the demo
keys) and prints requests/s and the sandbox's own count of accepted sends. Not collected by
pytest (no `test_` prefix). With --pin, the sandbox gets CPU 0 and wrk CPU 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
local non201 = 0
response = function(status, headers, body)
  if status ~= 201 then non201 = non201 + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%%d non2xx_errors=%%d p50_ms=%%.2f p99_ms=%%.2f\\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
"""


def body(recipients: int) -> str:
    numbers = [f"23355{n:07d}" for n in range(recipients)]
    return json.dumps(
        {
            "api_key_public": "pk_demo_pushr_relay",
            "api_key_secret": "sk_demo_pushr_relay",
            "message": "Hello from Python! This is a test message.",
            "recipients": numbers,
            "sender_id": "PYWE",
        }
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--recipients", type=int, default=1)
    ap.add_argument("--pin", action="store_true", help="sandbox on CPU 0, wrk on CPU 1")
    args = ap.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2

    server_cmd = [sys.executable, "-m", "service", "sandbox", "--port", "0"]
    wrk_prefix: list[str] = []
    if args.pin and shutil.which("taskset"):
        server_cmd = ["taskset", "-c", "0", *server_cmd]
        wrk_prefix = ["taskset", "-c", "1"]
    server = subprocess.Popen(server_cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        url = line.removeprefix("SANDBOX_URL=")
        if not url.startswith("http"):
            print(f"sandbox did not start: {line!r}", file=sys.stderr)
            return 1
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA % body(args.recipients))
        try:
            out = subprocess.run(
                [*wrk_prefix, wrk, f"-t{args.threads}", f"-c{args.connections}",
                 f"-d{args.duration}s", "--latency", "-s", script.name, f"{url}/sms/send-sms"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
        finally:
            os.unlink(script.name)
        base = url.removesuffix("/api/client")
        with urllib.request.urlopen(f"{base}/_sandbox/traffic", timeout=10) as resp:
            traffic = json.load(resp)
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    print(out)
    print(
        "sandbox accepted sends:", traffic["accepted_sends"], "by endpoint:", traffic["by_endpoint"]
    )
    print(f"RESULT send-sms req/s: {float(rate.group(1)) if rate else float('nan'):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
