"""The relay's job written the way a Python team would on FastStream: a subscriber with a
pydantic model for the event, httpx for Push.R, one result record per event.

    python -m tests.bench.peers.faststream_peer --bootstrap B --topic T --out-topic O
        --group G --url URL --ack-policy ack_first|ack --workers N --concurrency C
        --count N --seconds S [--batch-size 100]

`--ack-policy ack_first --workers 64` is FastStream's concurrency as documented
(`max_workers`; the offset is auto-committed when the record is handed to a worker, before
the work is done). `--ack-policy ack` commits after the handler returns; FastStream then runs
one consumer per partition (`max_workers` is the number of consumers). Stops by itself after
`--count` results or `--seconds`; prints one JSON object on its last stdout line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any

import httpx
import orjson
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from pydantic import BaseModel


class SmsEvent(BaseModel):
    event_id: str
    sender_id: str
    message: str
    recipients: list[str]


def build(
    args: argparse.Namespace, http: httpx.AsyncClient, finished: asyncio.Event
) -> tuple[KafkaBroker, list[int]]:
    broker = KafkaBroker(args.bootstrap, acks="all")
    done = [0]
    public, secret = os.environ["PUSHR_PUBLIC_KEY"], os.environ["PUSHR_SECRET_KEY"]

    @broker.subscriber(
        args.topic,
        group_id=args.group,
        auto_offset_reset="earliest",
        max_workers=args.workers,
        ack_policy=AckPolicy(args.ack_policy),
    )  # type: ignore[untyped-decorator]  # the subscriber's __call__ is not annotated
    async def send_sms(event: SmsEvent) -> None:
        numbers = ["233" + n[1:] if n.startswith("0") else n for n in event.recipients]
        statuses: list[int] = []
        bodies: list[Any] = []
        for start in range(0, len(numbers), args.batch_size):
            response = await http.post(
                "/sms/send-sms",
                json={
                    "api_key_public": public,
                    "api_key_secret": secret,
                    "message": event.message,
                    "recipients": numbers[start : start + args.batch_size],
                    "sender_id": event.sender_id,
                },
            )
            statuses.append(response.status_code)
            bodies.append(response.json())
        result = {
            "type": "result",
            "event_id": event.event_id,
            "http_status": statuses,
            "bodies": bodies,
        }
        await broker.publish(result, topic=args.out_topic, key=event.event_id.encode())
        done[0] += 1
        if done[0] >= args.count:
            finished.set()

    return broker, done


async def run(args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=args.url.rstrip("/"), limits=limits, timeout=30) as http:
        finished = asyncio.Event()
        broker, done = build(args, http, finished)
        await broker.start()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), args.seconds)
        finally:
            await broker.stop()
    return {"events": done[0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.peers.faststream_peer")
    for name in ("--bootstrap", "--topic", "--out-topic", "--group", "--url"):
        p.add_argument(name, required=True)
    p.add_argument("--ack-policy", choices=["ack_first", "ack"], required=True)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--batch-size", type=int, default=100)
    args = p.parse_args(argv)
    try:
        import uvloop  # noqa: PLC0415 - the relay's event loop, when installed
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print(orjson.dumps(result).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
