"""`pushr-relay demo` (`make demo`): the whole system locally, then gone.

Starts a real Kafka broker, the Push.R sandbox and the relay as its own process, produces
sample events (valid ones and broken ones), prints each result, status (delivery reports too)
and dead letter as it arrives, prints a metrics summary, and stops everything — also on Ctrl-C.
`--security sasl_ssl|mtls` secures the broker; every client then connects through it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.devkit.broker.local_broker import LocalKafka
from service.devkit.broker.processes import die_with_parent_hook
from service.devkit.broker.secured import SECURITY_MODES, BrokerSecurity
from service.devkit.sandbox import DEMO_PASSWORD, DEMO_USERNAME, RunningSandbox, SandboxConfig
from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from service.kafka.admin import create_topics

BOLD, DIM, GREEN, RED, YELLOW, RESET = ("\033[1m", "\033[2m", "\033[32m", "\033[31m",
                                        "\033[33m", "\033[0m")  # fmt: skip


def sample_events(run: str) -> list[bytes]:
    """What other services would send, plus what a broken producer might."""
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    events: list[Any] = [
        {
            "event_id": f"{run}-order-ready",
            "message": "Hi Ama, your order ORD123 is ready for pickup at Osu.",
            "recipients": ["0558544343", "+233 24 876 9324", "055-854-4343"],
            "sender_id": "PYWE",
            "metadata": {"order_id": "ORD123"},
        },
        {
            "event_id": f"{run}-promo-cedi",
            "message": "Weekend deal: pay GH₵ 50 and get 2 GB free. Reply STOP to opt out.",
            "recipients": ["0201234567", "0271234567", "0302123456"],
            "delivery": "at_least_once",
        },
        {
            "event_id": f"{run}-pickup-template",
            "template": "Hi {name}, your order {order_id} for GHS {amount} is ready!",
            "rows": [
                {"contact": "0558544343", "name": "John", "order_id": "ORD123", "amount": "150.00"},
                {"contact": "0548769324", "name": "Jane", "order_id": "ORD124", "amount": "200.00"},
            ],
            "sender_id": "PYWE",
            "business": 1,
        },
        {
            "event_id": f"{run}-reminder-later",
            "message": "Reminder: your appointment is tomorrow at 10:00.",
            "recipients": ["0241234567"],
            "scheduled_at": soon,
        },
        {
            "event_id": f"{run}-too-late",
            "message": "Flash sale ends in 5 minutes!",
            "recipients": ["0241234567"],
            "expires_at": past,
        },
        {"event_id": f"{run}-no-recipients", "message": "Hello?"},
        {"event_id": f"{run}-landline", "message": "Hi", "recipients": ["0302123456"]},
    ]
    raw = [orjson.dumps(e) for e in events]
    raw.append(b'{"event_id": "broken", "message": "unterminated')
    return raw


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def relay_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "run"],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent_hook(),  # noqa: PLW1509 - prctl only
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def describe(record: dict[str, Any], topic_kind: str) -> str:
    if topic_kind == "dlq":
        errors = "; ".join(
            f"{e['path'] or '(event)'}: {e['message']}" for e in record["errors"][:2]
        )
        return (
            f"{RED}DEAD LETTER{RESET} offset {record['source']['offset']:<3} "
            f"reason={BOLD}{record['reason']}{RESET}  {DIM}{errors}{RESET}"
        )
    event_id = record.get("event_id", "?")
    if record.get("type") == "result":
        colour = GREEN if record["outcome"] in ("sent", "scheduled") else YELLOW
        return (
            f"{colour}RESULT{RESET}  {event_id:<28} batch {record['batch_index'] + 1}/"
            f"{record['batch_count']} {BOLD}{record['outcome']}{RESET} "
            f"pushr_id={record.get('pushr_message_id') or '-'} cost={_cost(record)} "
            f"recipients={', '.join(record['recipients'])}"
        )
    status = record["status"]
    colour = GREEN if status in ("sent", "scheduled", "accepted", "delivered") else YELLOW
    extra = ""
    if record.get("recipients_rejected"):
        extra += f" rejected_recipients={record['recipients_rejected']}"
    if record.get("reason"):
        extra += f" reason={record['reason']}"
    if record.get("warnings"):
        extra += f" {DIM}warning: {record['warnings'][0]}{RESET}"
    return f"{colour}STATUS{RESET}  {event_id:<28} {BOLD}{status}{RESET}{extra}"


def _cost(record: dict[str, Any]) -> str:
    # /sms/custom answers without a message id or cost; say so instead of "None GHS"
    cost = record.get("cost")
    return f"{cost} GHS" if cost is not None else "n/a (template send)"


def _connect(kafka: LocalKafka) -> dict[str, Any]:
    return {"bootstrap_servers": kafka.bootstrap_servers, **kafka.client_options()}


async def watch(
    kafka: LocalKafka, outbound: str, dlq: str, *, expect_final: int, expect_dlq: int, within: int
) -> tuple[int, int]:
    consumer = AIOKafkaConsumer(
        outbound, dlq, auto_offset_reset="earliest", group_id=None, **_connect(kafka)
    )
    await consumer.start()
    finals = dead = 0
    deadline = time.monotonic() + within
    try:
        while (finals < expect_final or dead < expect_dlq) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    record = orjson.loads(message.value)
                    kind = "dlq" if tp.topic == dlq else "out"
                    print(describe(record, kind), flush=True)
                    if kind == "dlq":
                        dead += 1
                    elif record.get("type") == "status" and record["status"] != "accepted":
                        finals += 1
                        if record["status"] == "sent":  # a delivery report per message follows
                            expect_final += len(record["pushr_message_ids"])
    finally:
        await consumer.stop()
    return finals, dead


async def produce(kafka: LocalKafka, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(acks="all", **_connect(kafka))
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


def metrics_summary(text: str) -> list[str]:
    wanted = {
        "pushr_relay_events_consumed_total": "events consumed",
        "pushr_relay_events_accepted_total": "events accepted",
        "pushr_relay_events_dead_lettered_total": "events dead-lettered",
        "pushr_relay_events_expired_total": "events expired",
        "pushr_relay_results_published_total": "result events published",
        "pushr_relay_provider_requests_total": "Push.R requests",
        "pushr_relay_sms_units_total": "SMS units charged",
        "pushr_relay_sms_cost_ghs_total": "cost (GHS)",
    }
    sums: dict[str, float] = dict.fromkeys(wanted, 0.0)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in sums:
            sums[name] += float(line.rsplit(" ", 1)[1])
    return [f"  {label:<26} {sums[name]:g}" for name, label in wanted.items()]


async def demo(keep_running: bool, security: BrokerSecurity = "plain") -> int:
    # Fresh topics elect leaders while the first records are sent; the client retries, and
    # its warnings would only interleave with the output a person reads.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    run = uuid.uuid4().hex[:6]
    workdir = Path(tempfile.mkdtemp(prefix="pushr-relay-demo-"))
    print(f"{BOLD}pushr-relay demo{RESET}  (logs in {workdir})")
    print("1/5 starting Apache Kafka (jars from Maven Central on first run)…", flush=True)
    with LocalKafka(nodes=1, workdir=workdir / "kafka", security=security) as kafka:
        bootstrap = kafka.bootstrap_servers
        print(f"    broker at {bootstrap} ({kafka.material.listener})")
        print("2/5 starting the Push.R sandbox…", flush=True)
        with RunningSandbox(SandboxConfig()) as sandbox:
            print(f"    sandbox at {sandbox.url}")
            topics = {"in": "sms.requests", "out": "sms.events", "dlq": "sms.requests.dlq"}
            await create_topics(bootstrap, list(topics.values()), 3, 1, **kafka.client_options())
            metrics_port = _free_port()
            env = {
                **kafka.client_env(),
                "PUSHR_RELAY_PUSHR_BASE_URL": sandbox.url,
                "PUSHR_RELAY_PUSHR_API_KEY_PUBLIC": DEMO_PUBLIC_KEY,
                "PUSHR_RELAY_PUSHR_API_KEY_SECRET": DEMO_SECRET_KEY,
                "PUSHR_RELAY_PUSHR_BUSINESS_ID": "1",
                "PUSHR_RELAY_PUSHR_USERNAME": DEMO_USERNAME,  # the status poller's JWTs
                "PUSHR_RELAY_PUSHR_PASSWORD": DEMO_PASSWORD,
                "PUSHR_RELAY_STATUS_POLL_SECONDS": "1",
                "PUSHR_RELAY_HTTP_HOST": "127.0.0.1",
                "PUSHR_RELAY_HTTP_PORT": str(metrics_port),
            }
            print("3/5 starting the relay (pushr-relay run)…", flush=True)
            with relay_process(env, workdir / "relay.log") as relay:
                events = sample_events(run)
                print(
                    f"4/5 producing {len(events)} sample events (3 of them broken)…\n", flush=True
                )
                await produce(kafka, topics["in"], events)
                finals, dead = await watch(
                    kafka,
                    topics["out"],
                    topics["dlq"],
                    expect_final=len(events),
                    expect_dlq=3,
                    within=90,
                )
                url = f"http://127.0.0.1:{metrics_port}/metrics"
                async with httpx.AsyncClient() as http:
                    text = (await http.get(url, timeout=5)).text
                print(f"\n5/5 metrics summary (from {url}):")
                print("\n".join(metrics_summary(text)))
                print(
                    f"  sandbox saw {len(sandbox.traffic.accepted_requests())} accepted requests, "
                    f"{len(sandbox.traffic.duplicate_sends())} duplicate sends"
                )
                if keep_running:
                    print(f"\nStill running: {url} (Ctrl-C to stop)")
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.Event().wait()
                ok = relay.poll() is None and dead >= 3 and finals >= len(events)
        print("\nstopping relay, sandbox and broker…")
    print(
        f"done. Metrics live at /metrics on the relay's port while `pushr-relay run` runs; "
        f"see README, Operations. Logs kept in {workdir}"
    )
    return 0 if ok else 1


def cli_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="pushr-relay demo")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave everything up until Ctrl-C (browse /metrics)",
    )
    parser.add_argument(
        "--security", choices=SECURITY_MODES, default="plain", help="broker listener security"
    )
    args = parser.parse_args(list(argv))
    try:
        return asyncio.run(demo(args.keep_running, args.security))
    except KeyboardInterrupt:
        print("\ninterrupted: everything stopped.")
        return 130
