"""One send-sms scenario of `tests.bench.run`: warm-up, throughput, half-rate latency, then
the ceilings, the naive baseline and the peers on the same events (`measure`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Any

from aiokafka import AIOKafkaProducer

from service.kafka.admin import create_topics
from tests.bench import targets
from tests.bench.events import Scenario, event
from tests.bench.procs import cpu_affinity, cpu_seconds, python_cmd, status_kib
from tests.bench.reader import OutboundReader
from tests.bench.relay_bench import BATCH_SIZE, IN_FLIGHT, PARTITIONS, WAIT_BOUND_S, Bench


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- one scenario ----------------------------------------------------------------------
async def measure(bench: Bench, sc: Scenario) -> dict[str, Any]:
    """One scenario on the bench's broker and sandbox: the relay, then ceilings and naive."""
    print(f"\n== scenario {sc.key}: {sc.title}", file=sys.stderr, flush=True)
    bench.prepare_sandbox(sc.latency_ms)
    prefix = f"bench-{bench.run_id}-{sc.key}"
    peer_ins = [f"peer-{name}-in" for name in bench.args.peers]
    peer_outs = [f"peer-{name}" for name in bench.args.peers]
    topics = {k: f"{prefix}-{k}" for k in ("in", "out", "dlq", "naive-out", *peer_ins, *peer_outs)}
    inbound = ["in", *peer_ins]
    await create_topics(bench.bootstrap, [topics[k] for k in inbound], partitions=PARTITIONS)
    await create_topics(
        bench.bootstrap,
        [t for k, t in topics.items() if k not in inbound],
        partitions=PARTITIONS,
        config={"message.timestamp.type": "LogAppendTime"},
    )
    reader = OutboundReader(bench.bootstrap, topics["out"])
    await reader.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=bench.bootstrap,
        acks="all",
        linger_ms=5,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    log = (bench.logs / f"relay-{sc.key}.log").open("w")
    relay = bench.children.spawn(
        python_cmd("-m", "service", "run"),
        cpu=bench.work_cpu,
        env=bench.relay_env(topics),
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
        to_accepted = [reader.accepted[i] - produced[i] for i in paced_ids if i in reader.accepted]
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
        if bench.args.profile and sc.key in bench.args.profile:
            await bench.profile(relay.pid, sc)
    finally:
        code = bench.children.stop(relay, timeout=30)
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
    secs = str(bench.args.ceiling_seconds)
    total = sc.warmup + sc.events + paced_count
    shape = ["--shape", "template" if sc.kind == "template" else "sms"]
    batch_recipients = str(min(sc.recipients, BATCH_SIZE))
    bench.prepare_sandbox(sc.latency_ms)
    kafka_args = ["--bootstrap", bench.bootstrap, "--topic", topics["in"]]
    ceilings: dict[str, Any] = {
        "kafka": await bench.ceiling("kafka", *kafka_args, "--count", str(total)),
    }
    for client in bench.args.clients:
        ceilings[f"http_{client}"] = await bench.ceiling(
            *("http", "--client", client, "--url", bench.sandbox_url, *shape),
            *("--recipients", batch_recipients, "--concurrency", str(IN_FLIGHT)),
            *("--seconds", secs),
        )
        req = ceilings[f"http_{client}"].get("requests_per_s")
        if req is not None:
            ceilings[f"http_{client}"]["events_per_s"] = req / per_event
    bench.prepare_sandbox(sc.latency_ms)
    naive = await bench.ceiling(
        *("naive", *kafka_args, "--out-topic", topics["naive-out"]),
        *("--url", bench.sandbox_url, "--count", str(total)),
        *("--seconds", str(sc.naive_seconds), "--batch-size", str(BATCH_SIZE)),
    )
    result["ceilings"] = ceilings
    result["naive"] = naive
    result["peers"] = await bench.peers(sc, topics)
    result["best_peer"] = targets.best_peer(result["peers"])
    result["fastest_peer"] = targets.fastest_peer(result["peers"])
    result["ratios"] = targets.ratios(sc, result, IN_FLIGHT, BATCH_SIZE)
    result["targets"] = targets.evaluate(sc.key, result)
    for key in ("kafka", *(f"http_{c}" for c in bench.args.clients)):
        print(f"   {key}: {ceilings[key]}", file=sys.stderr)
    print(f"   naive: {naive}", file=sys.stderr, flush=True)
    return result


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
