"""What a chaos run still waits for, written into the failure message of a timed-out wait:
the reconciler's gauges as each running relay exports them (batches waiting, by reason),
its `reconcile_*` log lines, and the ledger's pending records and open claims (Redis),
each with what makes it wait. Batch keys name events only; no number is printed.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import httpx
import orjson
import redis.asyncio as aioredis

from service.ledger import RedisLedger
from service.ledger.pending import OpenClaim, PendingRecord, PendingState

if TYPE_CHECKING:
    from tests.chaos.harness import Reader, RelayProcess

_SHOWN = 8  # examples of each kind; the counts cover the rest
# the reconciler's own lines, and the poller's failed rounds (a round that fails judges nothing)
_LOGGED = ('"reconcile_', '"batch_reconciled"', '"status_poll_failed"')


async def pending_dump(
    relays: Sequence[RelayProcess],
    out: Reader,
    wanted: Iterable[str],
    *,
    redis_url: str | None,
    prefix: str,
) -> str:
    parts = [_unsettled(out, wanted)]
    parts += [await _gauges(relay) for relay in relays if relay.running]
    parts.append(_log_lines(line for relay in relays for line in relay.log_lines()))
    if redis_url is not None:
        parts.append(await _ledger(redis_url, prefix))
    return "\n".join(parts)


def _unsettled(out: Reader, wanted: Iterable[str]) -> str:
    finals = out.finals()
    missing = sorted(e for e in wanted if e not in finals)
    waiting = sorted(e for e, r in finals.items() if r.get("reason") == "reconciling")
    return (
        f"events without a final status: {len(missing)} {missing[:_SHOWN]}; "
        f"final but still reconciling: {len(waiting)} {waiting[:_SHOWN]}"
    )


async def _gauges(relay: RelayProcess) -> str:
    url = f"http://127.0.0.1:{relay.port}/metrics"
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            text = (await client.get(url)).text
    except httpx.HTTPError as exc:
        return f"{relay.name}: /metrics unreadable ({type(exc).__name__})"
    wanted = (
        "pushr_relay_reconcile_",
        "pushr_relay_status_poller_leader",
        "pushr_relay_status_polls_total",
    )
    lines = [
        line
        for line in text.splitlines()
        if line.startswith(wanted)
        and not line.endswith(" 0.0")
        and not line.partition("{")[0].partition(" ")[0].endswith("_created")
    ]
    return f"{relay.name} gauges: " + ("; ".join(lines) or "all reconcile gauges 0")


def _log_lines(lines: Iterable[str]) -> str:
    counts: Counter[str] = Counter()
    last: dict[str, str] = {}
    for line in lines:
        if not any(name in line for name in _LOGGED):
            continue
        with contextlib.suppress(orjson.JSONDecodeError):
            event = str(orjson.loads(line).get("event"))
            counts[event] += 1
            last[event] = line[:400]
    if not counts:
        return "reconcile and poll log lines: none"
    shown = [f"{name} x{n}, last: {last[name]}" for name, n in counts.most_common()]
    return "reconcile and poll log lines:\n  " + "\n  ".join(shown)


async def _ledger(redis_url: str, prefix: str) -> str:
    client = aioredis.Redis.from_url(redis_url)
    ledger = RedisLedger(
        client, prefix=prefix, ttl_seconds=3600, close_client=False, reconcile=True
    )
    try:
        now = await ledger.now()
        records = await ledger.pending()
        claims = await ledger.open_claims(now)
        states = {r.key: await ledger.get(r.key) for r in records}
    except Exception as exc:  # the dump explains a failure; it must not replace it
        return f"ledger unreadable: {type(exc).__name__}"
    finally:
        await client.aclose()
    lines = [_record_line(r, now, states[r.key], claims) for r in records[:_SHOWN]]
    lapsed = [c for c in claims if c.lease_end <= now]
    lines += [_claim_line(c, now, records) for c in (lapsed or claims)[:_SHOWN]]
    by_state = Counter(f"{r.state.value}/{r.verdict}" for r in records)
    return (
        f"ledger: {len(records)} pending record(s) {dict(by_state)}, {len(claims)} open "
        f"claim(s) ({len(lapsed)} lapsed)\n  " + "\n  ".join(lines)
    )


def _record_line(record: PendingRecord, now: float, entry: object, claims: list[OpenClaim]) -> str:
    state = getattr(entry, "state", None)
    rivals = [
        c.key
        for c in claims
        if c.key != record.key and c.signature.compatible(record.context.signature)
    ]
    waiting = (
        f"window closed {now - record.window_end:.1f}s ago"
        if record.state is PendingState.PENDING
        else ""
    )
    return (
        f"pending {record.key} gen={record.generation} {record.state.value} "
        f"verdict={record.verdict} entry={state} age={now - record.registered_at:.1f}s "
        f"{waiting} why={record.context.why} delivery={record.context.delivery} "
        f"open claims of the same shape: {len(rivals)} {rivals[:3]}"
    )


def _claim_line(claim: OpenClaim, now: float, records: list[PendingRecord]) -> str:
    pending = {r.key: r for r in records}.get(claim.key)
    of_record = f"its record: {pending.state.value}" if pending is not None else "no record"
    return (
        f"open claim {claim.key} claimed {now - claim.claimed_at:.1f}s ago, lease "
        f"{'lapsed' if claim.lease_end <= now else 'live'} ({now - claim.lease_end:+.1f}s), "
        f"{of_record}"
    )
