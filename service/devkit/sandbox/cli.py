"""`pushr-relay sandbox`: serve the Push.R sandbox until SIGINT/SIGTERM.

The first stdout line is `SANDBOX_URL=http://HOST:PORT/api/client` (with `--port 0`, the
port the OS chose), so a parent process can read it and point a client at it.

    pushr-relay sandbox --port 0 --seed 1 --latency-ms uniform:5:50 --error-rate 503=0.1 \\
        --late-rate 0.01 --late-delay-s 15 --outage 30:5
    pushr-relay sandbox --tls-cert server.crt --tls-key server.key   # https://...
    pushr-relay sandbox --access-token-ttl 60    # JWTs of /api/token/ expire after a minute
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from service.devkit.sandbox.config import SandboxConfig
from service.devkit.sandbox.faults import FaultConfig
from service.devkit.sandbox.lifecycle import LifecycleConfig
from service.devkit.sandbox.runner import new_event_loop
from service.devkit.sandbox.server import SandboxServer


def _pair(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected STATUS=RATE, got {text!r}")
    return key, float(value)


def _outage(text: str) -> dict[str, float]:
    start, sep, duration = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START_S:DURATION_S, got {text!r}")
    return {"start_s": float(start), "duration_s": float(duration)}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pushr-relay sandbox", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6700, help="0: any free port")
    p.add_argument("--config", help="JSON file: accounts, faults, lifecycle, seed, ...")
    p.add_argument("--seed", type=int, help="random seed for faults and outcomes")
    p.add_argument("--list-lag-s", type=float,
                   help="list each message this long after its `created`")  # fmt: skip
    t = p.add_argument_group("HTTPS and tokens")
    t.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: serve HTTPS")
    t.add_argument("--tls-key", metavar="FILE", help="PEM key of --tls-cert")
    t.add_argument("--tls-client-ca", metavar="FILE",
                   help="require client certificates signed by this PEM CA")  # fmt: skip
    t.add_argument("--access-token-ttl", type=float, metavar="SECONDS",
                   help="access-token lifetime (default 300; refresh tokens: 1 day)")  # fmt: skip
    f = p.add_argument_group("faults (override the config file's)")
    f.add_argument("--latency-ms", help="20 | uniform:MIN:MAX | exponential:MEAN | normal:MEAN:SD")
    rates = "e.g. 503=0.1 (429, 500, 502, 503, 504)"
    f.add_argument("--error-rate", type=_pair, action="append", default=[],
                   metavar="STATUS=RATE", help=rates)  # fmt: skip
    f.add_argument("--retry-after-s", type=float)
    f.add_argument("--rate-limit", type=float, metavar="RPS", help="answer 429 above this rate")
    f.add_argument("--hang-rate", type=float)
    f.add_argument("--hang-s", type=float, help="close a hung connection after this long")
    f.add_argument("--reset-rate", type=float)
    f.add_argument("--late-rate", type=float, help="processed, answered after --late-delay-s")
    f.add_argument("--late-delay-s", type=float)
    f.add_argument("--outage", type=_outage, action="append", default=[],
                   metavar="START_S:DURATION_S", help="refuse connections")  # fmt: skip
    f.add_argument("--fault-endpoints", help="comma-separated: send-sms,custom,list")
    lc = p.add_argument_group("lifecycle")
    lc.add_argument("--sent-after-s", type=float)
    lc.add_argument("--final-after-s", type=float)
    lc.add_argument("--failed-rate", type=float, help="share of messages that fail")
    p.add_argument("--log-level", default="WARNING")
    return p


def build_config(args: argparse.Namespace) -> SandboxConfig:
    config = SandboxConfig.load(args.config) if args.config else SandboxConfig()
    if args.seed is not None:
        config.seed = args.seed
    if args.list_lag_s is not None:
        if args.list_lag_s < 0:
            raise ValueError("--list-lag-s must be >= 0")
        config.list_lag_s = args.list_lag_s
    given = {
        "tls_cert_file": args.tls_cert,
        "tls_key_file": args.tls_key,
        "tls_client_ca_file": args.tls_client_ca,
        "access_token_ttl_s": args.access_token_ttl,
    }
    for name, value in given.items():
        if value is not None:
            setattr(config, name, value)
    config.__post_init__()  # the combination, checked again after the flags
    config.tls_context()  # an unreadable or unusable file fails here, before listening
    faults: dict[str, Any] = config.faults.to_dict()
    flags = {
        "latency_ms": args.latency_ms,
        "retry_after_s": args.retry_after_s,
        "rate_limit_rps": args.rate_limit,
        "hang_rate": args.hang_rate,
        "hang_s": args.hang_s,
        "reset_rate": args.reset_rate,
        "late_rate": args.late_rate,
        "late_delay_s": args.late_delay_s,
    }
    faults.update({k: v for k, v in flags.items() if v is not None})
    faults["error_rates"].update(dict(args.error_rate))
    faults["outages"] += args.outage
    if args.fault_endpoints:
        faults["endpoints"] = [e.strip() for e in args.fault_endpoints.split(",") if e.strip()]
    config.faults = FaultConfig.from_dict(faults)
    lifecycle = config.lifecycle.to_dict()
    if args.sent_after_s is not None:
        lifecycle["sent_after_s"] = args.sent_after_s
    if args.final_after_s is not None:
        lifecycle["final_after_s"] = args.final_after_s
    if args.failed_rate is not None:
        lifecycle["outcomes"] = {"delivered": 1.0 - args.failed_rate, "failed": args.failed_rate}
    config.lifecycle = LifecycleConfig.from_dict(lifecycle)
    return config


async def serve(config: SandboxConfig, host: str, port: int) -> None:
    sandbox = SandboxServer(config)
    await sandbox.start(host, port)
    print(f"SANDBOX_URL={sandbox.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


def cli_main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        config = build_config(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"pushr-relay sandbox: {exc}", file=sys.stderr)
        return 2
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(config, args.host, args.port))
    except OSError as exc:
        print(f"pushr-relay sandbox: {exc}", file=sys.stderr)
        return 1
    finally:
        loop.close()
    return 0
