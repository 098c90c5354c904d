"""Benchmark scenario e: priority lanes. A one-time password beside a bulk backlog.

Push.R is limited to 20 requests/s (`PUSHR_RELAY_RATE_LIMIT_RPS=20`) and answers in 50 ms.
One relay process, one in-topic (lanes by the `priority` field), four phases:

1. idle: `critical` one-recipient events produced at a steady 1/s, nothing else;
2. the issue's case: three 10,000-recipient `bulk` events, and an OTP produced just after;
3. backlog: more bulk events, so the backlog outlasts the next phase; once the relay has
   accepted them all, critical events at 1/s again, while the backlog drains;
4. stop the relay (what is left of the backlog is not waited for).

End-to-end latency is the inbound record's produce timestamp to the broker timestamp
(LogAppendTime) of the event's final status. Bulk throughput is the bulk results published
during phase 3, per second, over the rate limit (critical events take 1 of its 20 slots a
second, so 0.95 is the most bulk can have). Targets are reported, never asserted.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from service.kafka.admin import create_topics
from tests.bench.reader import OutboundReader

RATE_LIMIT_RPS = 20.0
LATENCY_MS = 50.0
BULK_RECIPIENTS = 10_000
BULK_MESSAGE = "Weekend sale at Osu: 20% off everything until Sunday. Reply STOP to opt out."
OTP_MESSAGE = "Your login code is {code}. It expires in 10 minutes."
_OTP_NUMBERS = {"w": 9_000_000, "i": 9_100_000, "x": 9_200_000, "b": 9_300_000}
WAIT_BOUND_S = 120.0


@dataclass(frozen=True)
class Sizes:
    idle_seconds: int  # critical events of phase 1, one a second
    backlog_seconds: int  # critical events of phase 3, one a second
    bulk_events: int  # 10k events in all (three of them in phase 2)


def sizes(quick: bool) -> Sizes:
    # The backlog must outlast phase 3: 19 bulk requests/s, 100 per event.
    return Sizes(5, 8, 4) if quick else Sizes(30, 40, 11)


def _number(n: int) -> str:
    return f"055{n % 10_000_000:07d}"


def bulk_event(seq: int) -> tuple[str, bytes]:
    event_id = f"bench-e-bulk-{seq:03d}"
    recipients = [_number(seq * BULK_RECIPIENTS + i) for i in range(BULK_RECIPIENTS)]
    body = {"event_id": event_id, "message": BULK_MESSAGE, "recipients": recipients}
    return event_id, orjson.dumps({**body, "sender_id": "PYWE", "priority": "bulk"})


def otp_event(phase: str, seq: int) -> tuple[str, bytes]:
    event_id = f"bench-e-otp-{phase}-{seq:04d}"
    body = {
        "event_id": event_id,
        "message": OTP_MESSAGE.format(code=f"{(seq * 7919) % 1_000_000:06d}"),
        "recipients": [_number(_OTP_NUMBERS[phase] + seq)],
        "sender_id": "PYWE",
        "priority": "critical",
    }
    return event_id, orjson.dumps(body)


class Producer:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 * 1024 * 1024
        )
        self._topic = topic
        self.produced: dict[str, int] = {}  # event_id -> produce timestamp ms

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, event: tuple[str, bytes]) -> None:
        event_id, raw = event
        ts = time.time_ns() // 1_000_000
        self.produced[event_id] = ts
        await self._producer.send_and_wait(self._topic, raw, key=event_id.encode(), timestamp_ms=ts)

    async def steady(self, phase: str, count: int, per_second: float = 1.0) -> list[str]:
        """`count` critical events, one every 1/`per_second` s, on a schedule (no drift)."""
        ids, start = [], time.monotonic()
        for i in range(count):
            delay = start + i / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event = otp_event(phase, i)
            await self.send(event)
            ids.append(event[0])
        return ids


def _pcts(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def q(p: float) -> float | None:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] if ordered else None

    return {"p50": q(0.5), "p99": q(0.99), "max": q(1.0), "n": float(len(ordered))}


async def scenario_e(bench: Any, quick: bool) -> dict[str, Any]:
    """Runs on a `tests.bench.relay_bench.Bench` (its sandbox, children, relay environment)."""
    size = sizes(quick)
    print("\n== scenario e: priority lanes", file=sys.stderr, flush=True)
    bench.prepare_sandbox(LATENCY_MS)
    prefix = f"bench-{bench.run_id}-e"
    topics = {k: f"{prefix}-{k}" for k in ("in", "out", "dlq")}
    await create_topics(bench.bootstrap, [topics["in"]], partitions=2)
    await create_topics(
        bench.bootstrap,
        [topics["out"], topics["dlq"]],
        partitions=2,
        config={"message.timestamp.type": "LogAppendTime"},
    )
    reader = OutboundReader(bench.bootstrap, topics["out"], bulk_prefix="bench-e-bulk")
    await reader.start()
    env = {**bench.relay_env(topics), "PUSHR_RELAY_RATE_LIMIT_RPS": str(RATE_LIMIT_RPS)}
    log = (bench.logs / "relay-e.log").open("w")
    relay = bench.children.spawn(
        [sys.executable, "-m", "service", "run"],
        cpu=bench.work_cpu,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    result: dict[str, Any] = {"scenario": "e", "title": "priority lanes", "sizes": size.__dict__}
    try:
        async with Producer(bench.bootstrap, topics["in"]) as producer:

            def latencies(ids: list[str]) -> list[float]:
                return [
                    float(reader.finals[i][0] - producer.produced[i])
                    for i in ids
                    if i in reader.finals
                ]

            def all_final(ids: list[str]) -> Any:
                return lambda: all(i in reader.finals for i in ids)

            warm = await producer.steady("w", 5, per_second=5)
            if not await reader.wait_until(all_final(warm), WAIT_BOUND_S):
                raise RuntimeError(f"warm-up without final statuses (see {bench.logs}/relay-e.log)")

            idle = await producer.steady("i", size.idle_seconds)
            await reader.wait_until(all_final(idle), WAIT_BOUND_S)
            print(f"   idle: {_pcts(latencies(idle))}", file=sys.stderr)

            first_bulk = [bulk_event(i) for i in range(3)]
            for event in first_bulk:
                await producer.send(event)
            case = otp_event("x", 0)
            await producer.send(case)
            more = [bulk_event(i) for i in range(3, size.bulk_events)]
            await reader.wait_until(all_final([case[0]]), WAIT_BOUND_S)
            for event in more:
                await producer.send(event)
            bulk_ids = [e[0] for e in first_bulk + more]
            await reader.wait_until(
                lambda: all(i in reader.accepted for i in bulk_ids), WAIT_BOUND_S
            )

            window_start = time.time_ns() // 1_000_000
            backlog = await producer.steady("b", size.backlog_seconds)
            window_end = time.time_ns() // 1_000_000
            await reader.wait_until(all_final(backlog), 30)
            drained = sum(1 for i in bulk_ids if i in reader.finals)
    finally:
        code = bench.children.stop(relay, timeout=30)
        await reader.stop()

    in_window = [ts for ts in reader.bulk_results if window_start <= ts < window_end]
    seconds = max(window_end - window_start, 1) / 1000
    idle_lat, backlog_lat = _pcts(latencies(idle)), _pcts(latencies(backlog))
    case_lat = latencies([case[0]])
    result.update(
        {
            "critical_idle_ms": idle_lat,
            "critical_backlog_ms": backlog_lat,
            "p99_ratio": _ratio(backlog_lat["p99"], idle_lat["p99"]),
            "otp_behind_three_bulk_ms": case_lat[0] if case_lat else None,
            "bulk_requests_per_s": len(in_window) / seconds,
            "bulk_fraction_of_rate_limit": len(in_window) / seconds / RATE_LIMIT_RPS,
            "bulk_events_finished_before_stop": drained,
            "statuses": sorted({reader.finals[i][1] for i in backlog + idle if i in reader.finals}),
            "relay_exit_code": code,
        }
    )
    result["targets"] = targets(result)
    print(f"   backlog: {backlog_lat}; bulk {result['bulk_fraction_of_rate_limit']:.2f} of the "
          f"rate limit; OTP behind 3 bulk: {result['otp_behind_three_bulk_ms']} ms",
          file=sys.stderr)  # fmt: skip
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    def target(name: str, value: float | None, op: str, goal: float) -> dict[str, Any]:
        met = None if value is None else (value >= goal if op == ">=" else value <= goal)
        return {"target": name, "value": value, "goal": f"{op} {goal:g}", "met": met}

    backlog_p99 = result["critical_backlog_ms"]["p99"]
    return [
        target("critical p99 backlog / idle", result["p99_ratio"], "<=", 3),
        target("critical p99 under backlog (ms)", backlog_p99, "<=", 1000),
        target("bulk / rate limit", result["bulk_fraction_of_rate_limit"], ">=", 0.9),
        target(
            "OTP behind three 10k bulk events (ms)", result["otp_behind_three_bulk_ms"], "<=", 1000
        ),
    ]


def markdown(result: dict[str, Any]) -> str:
    def n(value: float | None, digits: int = 0) -> str:
        return "—" if value is None else f"{value:,.{digits}f}"

    idle, backlog = result["critical_idle_ms"], result["critical_backlog_ms"]
    rows = [
        "| scenario | critical e2e p50 / p99 ms, idle | critical e2e p50 / p99 ms, bulk backlog "
        "| p99 backlog / idle | bulk / rate limit | OTP behind three 10k bulk events ms |",
        "|---|---|---|---|---|---|",
        f"| e: priority lanes, 20 rps, 50 ms | {n(idle['p50'])} / {n(idle['p99'])} "
        f"| {n(backlog['p50'])} / {n(backlog['p99'])} | {n(result['p99_ratio'], 2)} "
        f"| {n(result['bulk_fraction_of_rate_limit'], 2)} "
        f"| {n(result['otp_behind_three_bulk_ms'])} |",
        "",
        "| scenario | target | goal | value | met |",
        "|---|---|---|---|---|",
    ]
    for t in result["targets"]:
        met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
        rows.append(f"| e | {t['target']} | {t['goal']} | {n(t['value'], 2)} | {met} |")
    return "\n".join(rows)
