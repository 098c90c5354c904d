"""The scenarios, as plain async functions of their size; the test modules call them at a
short size (in `make test`) and at full size (`make chaos`)."""

from __future__ import annotations

import asyncio
import base64
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from service.devkit.broker.local_broker import LocalKafka
from service.devkit.sandbox import RunningSandbox
from tests.chaos.harness import (
    SECRETS,
    InputEvent,
    Reader,
    RelayConfig,
    RelayProcess,
    Verdict,
    leaks,
    make_events,
    produce,
    uncommitted,
    verdict,
    wait_until,
)
from tests.chaos.hostile import hostile_inputs
from tests.chaos.pending_dump import pending_dump
from tests.chaos.reconcile_check import check, describe, judge_verdicts, reconciling_env
from tests.chaos.report import ChaosReport, make_chaos_topics
from tests.fixtures.redis import RedisServer


@dataclass
class Run:
    """One scenario run's parts: topics, readers, relays and the events it sent."""

    bootstrap: str
    sandbox: RunningSandbox
    config: RelayConfig
    out: Reader
    dlq: Reader
    events: list[InputEvent]
    relays: list[RelayProcess]

    def finals(self) -> int:
        return len(self.out.finals())

    def has_finals(self, count: int) -> bool:
        return self.finals() >= count

    expect_dlq: int = 0
    placed: list[tuple[int, int]] | None = None
    inputs: list[bytes | dict[str, object]] | None = None

    def all_final(self) -> bool:
        """Every event has its final status, and none waits for a reconciliation verdict."""
        if len(self.dlq.records) < self.expect_dlq:
            return False
        finals = self.out.settled()
        return len(finals) >= len(self.events) and all(e.event_id in finals for e in self.events)

    def log_lines(self) -> list[str]:
        return [line for r in self.relays for line in r.log_lines()]

    def spawn(self, name: str) -> RelayProcess:
        relay = RelayProcess(self.config, name)
        self.relays.append(relay)
        relay.start()
        return relay

    async def progress(self, within: float = 90.0) -> None:
        """Wait (bounded) until one more event has a final status than now."""
        now = self.finals()
        await wait_until(lambda: self.finals() > now or self.all_final(), within, "progress")

    async def pending(self) -> str:
        """What is still pending and why (for the message of a timed-out wait)."""
        config = self.config
        wanted = (e.event_id for e in self.events)
        return await pending_dump(
            self.relays, self.out, wanted, redis_url=config.redis_url, prefix=config.key_prefix
        )

    async def finish(self, within: float) -> Verdict:
        what = f"final status of all {len(self.events)} events"
        await wait_until(self.all_final, within, what, explain=self.pending)
        for relay in self.relays:
            relay.stop()
        return verdict(self.events, self.out, self.sandbox)

    def leak_lines(self, report: ChaosReport | None = None) -> list[str]:
        """Log lines, outbound events and dead letters that carry a full number or secret."""
        numbers = {e.normalised for e in self.events}
        texts = [*self.log_lines(), *(v.decode("utf-8", "replace") for v in self.out.raw_values)]
        texts += [v.decode("utf-8", "replace") for v in self.dlq.raw_values]
        found = leaks(texts, numbers, SECRETS)
        if report is not None:
            report.leak_scan(len(texts), len(found))
        return found


def relay_config(
    bootstrap: str,
    sandbox: RunningSandbox,
    topics: tuple[str, str, str],
    redis_url: str | None,
    log_dir: Path,
    **extra: str,
) -> RelayConfig:
    inbound, outbound, dlq = topics
    return RelayConfig(
        bootstrap=bootstrap,
        sandbox_url=sandbox.url,
        in_topic=inbound,
        out_topic=outbound,
        dlq_topic=dlq,
        group_id=f"relay-{inbound}",
        redis_url=redis_url,
        key_prefix=f"chaos:{inbound}:",
        log_dir=log_dir,
        extra=dict(extra),
    )


Body = Callable[[Run], Awaitable[None]]


async def run_scenario(
    *,
    bootstrap: str,
    sandbox: RunningSandbox,
    redis_url: str | None,
    log_dir: Path,
    events: int,
    body: Body,
    partitions: int = 4,
    replication: int = 1,
    relays: int = 1,
    finish_within: float = 600.0,
    extra_inputs: list[bytes | dict[str, object]] | None = None,
    before_stop: Callable[[Run], object] | None = None,
    bulk_share: float = 0.0,
    env: dict[str, str] | None = None,
    **relay_env: str,
) -> tuple[Run, Verdict]:
    topics = await make_chaos_topics(bootstrap, partitions, replication)
    settings = {**relay_env, **(env or {})}
    config = relay_config(bootstrap, sandbox, topics, redis_url, log_dir, **settings)
    evs = make_events(events, bulk_share=bulk_share)
    async with Reader(bootstrap, topics[1]) as out, Reader(bootstrap, topics[2]) as dlq:
        run = Run(bootstrap, sandbox, config, out, dlq, evs, [], expect_dlq=len(extra_inputs or ()))
        try:
            for i in range(relays):
                run.spawn(f"relay{i}")
            inputs: list[bytes | dict[str, object]] = [e.to_json() for e in evs]
            if extra_inputs:
                inputs += extra_inputs
                random.Random(7).shuffle(inputs)
            run.inputs = inputs
            producing = asyncio.create_task(produce(bootstrap, topics[0], inputs))
            try:
                await body(run)
                run.placed = await producing
            finally:
                if not producing.done():
                    producing.cancel()
            await wait_until(
                run.all_final, finish_within, "a final status for every event", explain=run.pending
            )
            if before_stop is not None:
                before_stop(run)
            result = await run.finish(finish_within)
        finally:
            for relay in run.relays:
                relay.stop(timeout=5)
    behind = await uncommitted(bootstrap, config.group_id, topics[0])
    assert behind == {}, f"offsets left uncommitted (stalled partition?): {behind}"
    return run, result


def settle(
    report: ChaosReport,
    scenario: str,
    run: Run,
    result: Verdict,
    *,
    faults_ended: list[float],
    note: str,
    lost_extra: int = 0,
) -> None:
    """Report one scenario's run, then the checks every fault scenario shares: no secret or
    full number anywhere, and no event without a final status."""
    recoveries = [
        first - at for at in faults_ended if (first := run.out.first_final_after(at)) is not None
    ]
    leaked = run.leak_lines(report)
    report.add(
        scenario,
        events=result.events,
        lost=len(result.lost) + lost_extra,
        duplicates=result.duplicates,
        unknown=result.unknown,
        recovery_s=max(recoveries, default=None),
        note=note,
    )
    assert not leaked, leaked[:3]
    assert result.lost == [], result.describe()


def settle_reconciled(
    report: ChaosReport,
    scenario: str,
    run: Run,
    result: Verdict,
    *,
    faults_ended: list[float],
    note: str,
    mode: str,
) -> None:
    """`settle` for a run with reconciliation on: one report row per workload (unique
    texts, the identical bulk text), every verdict checked against the sandbox's record."""
    recoveries = [
        first - at for at in faults_ended if (first := run.out.first_final_after(at)) is not None
    ]
    leaked = run.leak_lines(report)
    loads = judge_verdicts(run.events, run.out, run.sandbox, set(result.lost))
    for load in loads.values():
        if load.events:
            report.add(
                f"{scenario}, {load.name}",
                events=load.events,
                lost=load.lost,
                duplicates=load.duplicates,
                unknown=load.unknown_at_end,
                recovery_s=max(recoveries, default=None),
                note=f"{note} {describe(load)}",
                reconciled=describe(load),
            )
    assert not leaked, leaked[:3]
    assert result.lost == [], result.describe()
    check(loads, mode, len(run.events))


async def claimed_batches(redis_url: str, prefix: str) -> int:
    """Ledger entries still `claimed`: batches whose request may have been in the air."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        count = 0
        # batch keys only: the reconciler's indexes live under the prefix too
        async for key in client.scan_iter(match=f"{prefix}*#*", count=1000):
            if await client.hget(key, "s") == b"claimed":
                count += 1
        return count
    finally:
        await client.aclose()


# --- SIGKILL ------------------------------------------------------------------------------
async def sigkill(
    report: ChaosReport,
    scenario: str,
    *,
    bootstrap: str,
    sandbox: RunningSandbox,
    redis_url: str,
    log_dir: Path,
    events: int,
    kills: int,
    mode: str,
    seed: int = 1,
    bulk_share: float = 0.1,
) -> None:
    """With reconciliation on: every batch in the air at a kill is settled from the list."""
    rng = random.Random(seed)
    in_flight_at_kills: list[int] = []
    restarts: list[float] = []
    # random moments, spread over the run: kill when this many events are final
    thresholds = sorted(rng.randint(events // 20, events * 9 // 10) for _ in range(kills))
    # a steady pace, so that every kill finds batches in the air
    sandbox.set_faults({"latency_ms": {"dist": "uniform", "min_ms": 10, "max_ms": 60}})

    async def body(run: Run) -> None:
        relay = run.relays[0]
        for threshold in thresholds:
            await wait_until(
                functools.partial(run.has_finals, threshold), 300, f"{threshold} final", step=0.02
            )
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            relay.kill()
            in_flight_at_kills.append(await claimed_batches(redis_url, run.config.key_prefix))
            restarts.append(time.monotonic())
            relay.start()

    run, result = await run_scenario(
        bootstrap=bootstrap,
        sandbox=sandbox,
        redis_url=redis_url,
        log_dir=log_dir,
        events=events,
        body=body,
        bulk_share=bulk_share,
        DELIVERY_DEFAULT=mode,
        HTTP_MAX_CONNECTIONS="16",
        env=reconciling_env(sandbox),
    )
    settle_reconciled(
        report,
        scenario,
        run,
        result,
        faults_ended=restarts,
        note=f"kills={len(in_flight_at_kills)} claimed_at_kills={in_flight_at_kills}",
        mode=mode,
    )
    assert set(result.by_status) <= {"sent", "rejected", "expired", "unknown"}, result.describe()
    if mode == "at_least_once":
        assert result.missing_sends == [], result.describe()


# --- hostile inputs -------------------------------------------------------------------------
async def hostile(
    report: ChaosReport,
    scenario: str,
    *,
    bootstrap: str,
    sandbox: RunningSandbox,
    redis_url: str | None,
    log_dir: Path,
    hostile_count: int,
    valid: int,
) -> None:
    evs_numbers = [f"024{2_000_000 + i:07d}" for i in range(50)]
    bad = hostile_inputs(hostile_count, evs_numbers)
    bad_ids = {id(b) for b in bad}
    crashed: list[int | None] = []

    async def body(run: Run) -> None:
        return None

    run, result = await run_scenario(
        bootstrap=bootstrap,
        sandbox=sandbox,
        redis_url=redis_url,
        log_dir=log_dir,
        events=valid,
        body=body,
        partitions=3,
        extra_inputs=list(bad),
        before_stop=lambda r: crashed.extend(
            relay.proc.returncode for relay in r.relays if relay.proc and not relay.running
        ),
        MAX_EVENT_BYTES=str(1024 * 1024),
    )
    assert run.placed is not None
    assert run.inputs is not None
    hostile_at = {
        where for raw, where in zip(run.inputs, run.placed, strict=True) if id(raw) in bad_ids
    }
    dead = {(int(r["source"]["partition"]), int(r["source"]["offset"])): r for r in run.dlq.records}
    missing_dlq = sorted(hostile_at - set(dead))
    extra_dlq = sorted(set(dead) - hostile_at)
    no_reason = [k for k, r in dead.items() if not r.get("reason")]
    numbers = {f"233{n[1:]}" for n in evs_numbers} | {e.normalised for e in run.events}
    texts = [*run.log_lines(), *(v.decode("utf-8", "replace") for v in run.out.raw_values)]
    texts += [v.decode("utf-8", "replace") for v in run.dlq.raw_values]
    texts += [
        base64.b64decode(r.get("payload_base64") or b"").decode("utf-8", "replace")
        for r in run.dlq.records
    ]
    leaked = leaks(texts, numbers, SECRETS)
    report.leak_scan(len(texts), len(leaked))
    report.add(
        scenario,
        events=hostile_count + valid,
        lost=len(result.lost) + len(result.missing_sends) + len(missing_dlq),
        duplicates=result.duplicates,
        unknown=result.unknown,
        note=f"dlq={len(dead)} hostile={len(hostile_at)} crashed={crashed}",
    )
    assert crashed == [], f"relay exited: {crashed}"
    assert missing_dlq == [], f"{len(missing_dlq)} hostile inputs not dead-lettered"
    assert extra_dlq == [], f"{len(extra_dlq)} valid events dead-lettered"
    assert no_reason == []
    assert result.lost == [], result.describe()
    assert result.missing_sends == [], result.describe()
    assert result.by_status == {"sent": valid}, result.describe()
    assert result.duplicates == 0
    assert not leaked, leaked[:3]


# --- provider faults ------------------------------------------------------------------------
FAULT_KINDS = ("outage", "5xx bursts", "429 storms", "hangs", "resets", "late answers")
# the faults that make outcomes ambiguous: run with reconciliation on
AMBIGUOUS_FAULTS = ("hangs", "resets", "late answers")
_PACE = {"dist": "uniform", "min_ms": 10, "max_ms": 60}


def breaker_opened(lines: list[str]) -> bool:
    return any('"breaker_state"' in line and '"open"' in line for line in lines)


async def provider_faults(
    report: ChaosReport,
    scenario: str,
    *,
    kind: str,
    bootstrap: str,
    sandbox: RunningSandbox,
    redis_url: str | None,
    log_dir: Path,
    events: int,
    fault_seconds: float,
    bursts: int,
) -> None:
    sandbox.set_faults({"latency_ms": _PACE})
    fault_end: list[float] = []

    async def burst(faults: dict[str, object]) -> None:
        for _ in range(bursts):
            sandbox.set_faults({"latency_ms": _PACE, **faults})
            await asyncio.sleep(fault_seconds)
            sandbox.set_faults({"latency_ms": _PACE})
            fault_end.append(time.monotonic())
            await asyncio.sleep(fault_seconds / 2)

    async def body(run: Run) -> None:
        await run.progress()
        if kind == "outage":
            sandbox.outage(fault_seconds, 0.0)
            await asyncio.sleep(fault_seconds)
            await wait_until(lambda: sandbox.listening, 30, "the sandbox listening again")
            fault_end.append(time.monotonic())
        elif kind == "5xx bursts":
            await burst({"error_rates": {"500": 0.3, "502": 0.3, "503": 0.4}})
        elif kind == "429 storms":
            await burst({"error_rates": {"429": 1.0}, "retry_after_s": 1})
        elif kind == "hangs":
            await burst({"hang_rate": 0.05})
        elif kind == "resets":
            await burst({"reset_rate": 0.05})
        elif kind == "late answers":
            await burst({"late_rate": 0.05, "late_delay_s": 5})
        else:
            raise ValueError(kind)

    reconciling = kind in AMBIGUOUS_FAULTS
    run, result = await run_scenario(
        bootstrap=bootstrap,
        sandbox=sandbox,
        redis_url=redis_url,
        log_dir=log_dir,
        events=events,
        body=body,
        bulk_share=0.1 if reconciling else 0.0,
        HTTP_MAX_CONNECTIONS="16",
        env=reconciling_env(sandbox) if reconciling else None,
    )
    requests = sandbox.traffic.seq
    lines = run.log_lines()
    opened = breaker_opened(lines)
    note = f"requests={requests} breaker_opened={opened} statuses={result.by_status}"
    if reconciling:
        settle_reconciled(
            report, scenario, run, result, faults_ended=fault_end, note=note, mode="at_most_once"
        )
    else:
        settle(report, scenario, run, result, faults_ended=fault_end, note=note)
    assert result.duplicates == 0, result.describe()
    assert set(result.by_status) <= {"sent", "unknown"}, result.describe()
    if kind in ("5xx bursts", "429 storms"):
        # not processed by the provider: safe to retry, so every one is sent in the end
        assert result.missing_sends == [], result.describe()
    if kind in ("outage", "5xx bursts"):
        assert opened, "the breaker never opened"
    # bounded retries: no more provider requests than the attempts the settings allow
    assert requests <= events * 6, f"{requests} requests for {events} events"


# --- broker kill ----------------------------------------------------------------------------
async def partition_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {int(p["partition"]): int(p["leader"]) for p in described["partitions"]}


async def broker_kill(
    report: ChaosReport,
    scenario: str,
    *,
    kafka: LocalKafka,
    sandbox: RunningSandbox,
    redis_url: str,
    log_dir: Path,
    events: int,
    kills: int,
    down_seconds: float,
    seed: int = 3,
) -> None:
    rng = random.Random(seed)
    sandbox.set_faults({"latency_ms": _PACE})
    bootstrap = kafka.bootstrap_servers
    replication = 3 if kafka.nodes >= 3 else 1
    restarts: list[float] = []
    victims: list[int] = []

    async def body(run: Run) -> None:
        step = max(1, events // (kills + 1))
        for i in range(kills):
            threshold = step * (i + 1) - rng.randint(0, step // 3)
            await wait_until(
                functools.partial(run.has_finals, threshold), 300, f"{threshold} final"
            )
            if kafka.nodes == 1:
                victim = 1
            else:  # the leader of the inbound topic's first partition: leadership must move
                victim = (await partition_leaders(bootstrap, run.config.in_topic))[0]
            victims.append(victim)
            kafka.stop_node(victim, kill=True)
            await asyncio.sleep(down_seconds)
            kafka.start_node(victim)  # blocks this loop until the node is registered
            restarts.append(time.monotonic())

    run, result = await run_scenario(
        bootstrap=bootstrap,
        sandbox=sandbox,
        redis_url=redis_url,
        log_dir=log_dir,
        events=events,
        body=body,
        replication=replication,
        HTTP_MAX_CONNECTIONS="16",
    )
    settle(
        report,
        scenario,
        run,
        result,
        faults_ended=restarts,
        note=f"killed nodes {victims}, statuses={result.by_status}",
    )
    assert result.duplicates == 0, result.describe()
    assert result.by_status == {"sent": events}, result.describe()


# --- Redis outage ---------------------------------------------------------------------------
async def redis_outage(
    report: ChaosReport,
    scenario: str,
    *,
    bootstrap: str,
    sandbox: RunningSandbox,
    redis: RedisServer,
    log_dir: Path,
    events: int,
    down_seconds: float,
) -> None:
    sandbox.set_faults({"latency_ms": _PACE})
    window: list[int] = []
    restarted: list[float] = []

    async def body(run: Run) -> None:
        await wait_until(lambda: run.finals() >= events // 4, 300, "a quarter of the events")
        redis.stop(kill=True)
        await asyncio.sleep(min(1.0, down_seconds / 3))  # requests in the air finish
        window.append(sandbox.traffic.seq)
        await asyncio.sleep(down_seconds - min(1.0, down_seconds / 3))
        window.append(sandbox.traffic.seq)
        redis.start()
        restarted.append(time.monotonic())

    run, result = await run_scenario(
        bootstrap=bootstrap,
        sandbox=sandbox,
        redis_url=redis.url,
        log_dir=log_dir,
        events=events,
        body=body,
        HTTP_MAX_CONNECTIONS="16",
    )
    lines = run.log_lines()
    settle(
        report,
        scenario,
        run,
        result,
        faults_ended=restarted,
        note=f"provider requests while Redis was down: {window[1] - window[0]}",
    )
    assert window[1] == window[0], "requests went out while the ledger was down"
    assert any('"ledger_unavailable"' in line for line in lines)
    assert result.duplicates == 0, result.describe()
    assert set(result.by_status) <= {"sent", "unknown"}, result.describe()


# --- scaling --------------------------------------------------------------------------------
async def scaling(
    report: ChaosReport,
    scenario: str,
    *,
    bootstrap: str,
    sandbox: RunningSandbox,
    redis_url: str,
    log_dir: Path,
    events: int,
) -> None:
    sandbox.set_faults({"latency_ms": _PACE})
    moments: list[float] = []

    async def body(run: Run) -> None:
        await wait_until(lambda: run.finals() >= events // 5, 300, "a fifth of the events")
        extra = [run.spawn("relay-up1"), run.spawn("relay-up2")]
        moments.append(time.monotonic())
        await wait_until(lambda: run.finals() >= events * 3 // 5, 300, "three fifths")
        for relay in extra:
            relay.stop()  # SIGTERM: drain, commit, leave the group
        moments.append(time.monotonic())

    run, result = await run_scenario(
        bootstrap=bootstrap,
        sandbox=sandbox,
        redis_url=redis_url,
        log_dir=log_dir,
        events=events,
        body=body,
        partitions=6,
        HTTP_MAX_CONNECTIONS="8",
    )
    settle(
        report,
        scenario,
        run,
        result,
        faults_ended=moments,
        note=f"statuses={result.by_status}",
    )
    assert result.duplicates == 0, result.describe()
    assert set(result.by_status) <= {"sent", "unknown"}, result.describe()
