"""Ceilings and the baseline, each run as its own process (like the relay) by `run.py`:

    python -m tests.bench.ceilings kafka --bootstrap B --topic T --count N
    python -m tests.bench.ceilings http --client service|httpx|aiohttp --url URL
        --shape sms|template --recipients R --concurrency C --seconds S
    python -m tests.bench.ceilings naive --bootstrap B --topic T --out-topic O --url URL
        --count N --seconds S

Each prints one JSON object on its last stdout line. Every loop stops by itself: after
`--count` items or `--seconds`, whichever comes first (plus a hard timeout on waits).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import aiohttp
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from service.pushr.transport import build_http_client
from service.settings import Settings
from tests.bench.events import sms_payload, template_form

WARMUP_S = 1.0


# --- raw aiokafka consumption ------------------------------------------------------------
async def kafka_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    await consumer.start()
    count = 0
    # from the first fetch request (after joining) to the last record
    first = last = time.perf_counter()
    try:
        deadline = time.monotonic() + args.seconds
        while count < args.count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                count += len(records)
            last = time.perf_counter()
    finally:
        await consumer.stop()
    elapsed = max(last - first, 1e-9)
    return {"events": count, "seconds": round(elapsed, 4), "events_per_s": count / elapsed}


# --- raw request loops -------------------------------------------------------------------
def _settings(url: str, concurrency: int, transport: str = "aiohttp") -> Settings:
    return Settings.model_validate(
        {
            "pushr_base_url": url,
            "http_max_connections": concurrency,
            "http_transport": transport,
        }
    )


async def _loop(
    send: Any, concurrency: int, seconds: float
) -> tuple[int, int, float, list[float], float]:
    """`concurrency` workers call `send()` until the deadline; returns (ok, failed, elapsed,
    latencies, CPU seconds), all of the measured part."""
    ok = failed = 0
    measuring = False
    latencies: list[float] = []
    stop_at = 0.0

    async def worker() -> None:
        nonlocal ok, failed
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status = await send()
            if measuring:
                latencies.append(time.perf_counter() - started)
                if status == 201:
                    ok += 1
                else:
                    failed += 1

    stop_at = time.perf_counter() + WARMUP_S
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    measuring = True
    started = time.perf_counter()
    cpu_started = time.process_time()
    stop_at = started + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return ok, failed, elapsed, latencies, time.process_time() - cpu_started


async def http_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    url = args.url.rstrip("/")
    endpoint = "/sms/custom" if args.shape == "template" else "/sms/send-sms"
    body = sms_payload(args.recipients, DEMO_PUBLIC_KEY, DEMO_SECRET_KEY)
    form_data, csv_bytes = template_form(args.recipients, DEMO_PUBLIC_KEY, DEMO_SECRET_KEY)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    if args.client == "aiohttp":
        connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=5.0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def send() -> int:
                if args.shape == "template":
                    form = aiohttp.FormData()
                    for key, value in form_data.items():
                        form.add_field(key, value)
                    form.add_field(
                        "csv_file", csv_bytes, filename="recipients.csv", content_type="text/csv"
                    )
                    kwargs: dict[str, Any] = {"data": form}
                else:
                    kwargs = {"data": body, "headers": headers}
                async with session.post(url + endpoint, **kwargs) as resp:
                    await resp.read()
                    return resp.status

            ok, failed, elapsed, lat, cpu = await _loop(send, args.concurrency, args.seconds)
    else:
        # the relay's own transport: its default, or what PUSHR_RELAY_HTTP_TRANSPORT names
        transport = Settings().http_transport if args.client == "service" else "httpx"
        client: httpx.AsyncClient = build_http_client(_settings(url, args.concurrency, transport))
        target = httpx.URL(url + endpoint)  # prebuilt, as PushrClient does
        async with client:

            async def send() -> int:
                if args.shape == "template":
                    request = client.build_request(
                        "POST",
                        target,
                        data=form_data,
                        files={"csv_file": ("recipients.csv", csv_bytes, "text/csv")},
                    )
                    await request.aread()
                else:
                    request = client.build_request("POST", target, content=body, headers=headers)
                response = await client.send(request)
                return response.status_code

            ok, failed, elapsed, lat, cpu = await _loop(send, args.concurrency, args.seconds)
    lat.sort()
    return {
        "cpu_us_per_request": 1e6 * cpu / max(ok + failed, 1),
        "client": args.client,
        "requests": ok,
        "failed": failed,
        "seconds": round(elapsed, 4),
        "requests_per_s": ok / elapsed,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else None,
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
    }


# --- the naive consumer --------------------------------------------------------------------
async def naive(args: argparse.Namespace) -> dict[str, Any]:
    """One event at a time: poll, POST each batch of 100 in turn, publish its result and a
    final status (acks=all), commit. No validation beyond parsing JSON."""
    url = args.url.rstrip("/")
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=f"naive-{args.topic}-{time.time_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1,
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all")
    client = build_http_client(_settings(url, 1))
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    await consumer.start()
    await producer.start()
    events = recipients = requests = 0
    first = last = 0.0
    try:
        deadline = time.monotonic() + args.seconds + 30  # first fetch included
        measure_until = 0.0
        while events < args.count and time.monotonic() < deadline:
            if first and time.perf_counter() >= measure_until:
                break
            batch = await consumer.getmany(timeout_ms=500, max_records=1)
            for tp, records in batch.items():
                for record in records:
                    if not first:
                        first = time.perf_counter()
                        measure_until = first + args.seconds
                    event = orjson.loads(record.value)
                    items = event.get("rows") or event.get("recipients") or []
                    for i in range(0, len(items), args.batch_size):
                        chunk = items[i : i + args.batch_size]
                        if "rows" in event:
                            lines = ["contact,name,order_id,amount"] + [
                                f"{r['contact']},{r['name']},{r['order_id']},{r['amount']}"
                                for r in chunk
                            ]
                            request = client.build_request(
                                "POST",
                                url + "/sms/custom",
                                data={
                                    "business": "1",
                                    "template": event["template"],
                                    "scheduled": "false",
                                    "api_key_public": DEMO_PUBLIC_KEY,
                                    "api_key_secret": DEMO_SECRET_KEY,
                                    "sender_id": event["sender_id"],
                                },
                                files={
                                    "csv_file": ("r.csv", "\n".join(lines).encode(), "text/csv")
                                },
                            )
                        else:
                            payload = {
                                "api_key_public": DEMO_PUBLIC_KEY,
                                "api_key_secret": DEMO_SECRET_KEY,
                                "message": event["message"],
                                "recipients": chunk,
                                "sender_id": event["sender_id"],
                            }
                            request = client.build_request(
                                "POST",
                                url + "/sms/send-sms",
                                content=orjson.dumps(payload),
                                headers=headers,
                            )
                        response = await client.send(request)
                        requests += 1
                        result = {
                            "type": "result",
                            "event_id": event["event_id"],
                            "batch_index": i // args.batch_size,
                            "http_status": response.status_code,
                            "body": orjson.loads(response.content),
                        }
                        await producer.send_and_wait(
                            args.out_topic, orjson.dumps(result), key=record.key
                        )
                    status = {"type": "status", "event_id": event["event_id"], "status": "sent"}
                    await producer.send_and_wait(
                        args.out_topic, orjson.dumps(status), key=record.key
                    )
                    await consumer.commit({tp: record.offset + 1})
                    events += 1
                    recipients += len(items)
                    last = time.perf_counter()
    finally:
        await client.aclose()
        await producer.stop()
        await consumer.stop()
    elapsed = max(last - first, 1e-9)
    return {
        "events": events,
        "requests": requests,
        "seconds": round(elapsed, 4),
        "events_per_s": events / elapsed,
        "recipients_per_s": recipients / elapsed,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench.ceilings")
    sub = p.add_subparsers(dest="mode", required=True)
    k = sub.add_parser("kafka")
    k.add_argument("--bootstrap", required=True)
    k.add_argument("--topic", required=True)
    k.add_argument("--count", type=int, required=True)
    k.add_argument("--seconds", type=float, default=30.0)
    h = sub.add_parser("http")
    h.add_argument("--client", choices=["service", "httpx", "aiohttp"], required=True)
    h.add_argument("--url", required=True)
    h.add_argument("--shape", choices=["sms", "template"], default="sms")
    h.add_argument("--recipients", type=int, default=1)
    h.add_argument("--concurrency", type=int, default=64)
    h.add_argument("--seconds", type=float, default=5.0)
    n = sub.add_parser("naive")
    n.add_argument("--bootstrap", required=True)
    n.add_argument("--topic", required=True)
    n.add_argument("--out-topic", required=True)
    n.add_argument("--url", required=True)
    n.add_argument("--count", type=int, required=True)
    n.add_argument("--seconds", type=float, default=5.0)
    n.add_argument("--batch-size", type=int, default=100)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    job = {"kafka": kafka_ceiling, "http": http_ceiling, "naive": naive}[args.mode]
    try:
        import uvloop  # noqa: PLC0415 - same event loop as the relay uses
    except ImportError:
        result = asyncio.run(job(args))
    else:
        result = uvloop.run(job(args))
    print(orjson.dumps(result).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
