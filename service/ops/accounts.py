"""`pushr-relay accounts`: each account's state as the running relays share it in Redis, and
`pushr-relay accounts release ACCOUNT [--window hour|day|blast|all]` to lift a hold.

    $ pushr-relay accounts
    account  state                      hour units     day units      blast
    default  sending                    120 / 2000     950 / 20000    on (10000 in 10 min)
    parcels  held: budget_exceeded      500 / 500      ...

Reads the same settings as `pushr-relay run` (the accounts file, Redis). A release lets the
account spend past its budget for the rest of the current window (hour or day), or lifts
the blast-radius guard for one window's length; spend is still counted. The relays pick it
up at their next probe (`PUSHR_RELAY_BALANCE_RECHECK_SECONDS`). Holds on balance or keys
are not the relay's to lift: they end when Push.R answers a probe.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.accounts.guard import blast_release_key, bucket, release_key, spend_key
from service.accounts.held import held_key
from service.accounts.load import AccountConfig, load_accounts
from service.accounts.model import WINDOW_SECONDS, WINDOWS, limit_caps
from service.configuration import ConfigurationError
from service.ledger.factory import redis_client
from service.settings import Settings

RELEASE_WINDOWS = ("hour", "day", "blast", "all")


async def account_states(
    settings: Settings, redis: aioredis.Redis, now: float
) -> list[dict[str, Any]]:
    prefix = settings.ledger_key_prefix
    states = []
    for account in load_accounts(settings):
        held = await redis.hgetall(held_key(prefix, account.name))
        reasons = {_text(k): int(v) for k, v in held.items()}
        budgets: dict[str, dict[str, Any]] = {}
        for window, limit in account.budgets.limits().items():
            index = bucket(window, now)
            used = await redis.hgetall(spend_key(prefix, account.name, "all", window, index))
            counted = {_text(k): int(v) for k, v in used.items()}
            released = bool(await redis.exists(release_key(prefix, account.name, window, index)))
            for measure, cap in limit_caps(limit).items():
                budgets[f"{window} {measure}"] = {
                    "used": counted.get(measure, 0),
                    "limit": cap,
                    "left": max(0, cap - counted.get(measure, 0)),
                    "released": released,
                }
        blast = account.blast
        states.append(
            {
                "account": account.name,
                "state": "held" if reasons else "sending",
                "held": sorted(reasons),
                "held_since": reasons,
                "budgets": budgets,
                "policy": account.budgets.policy,
                "blast_radius": None
                if blast is None
                else {"recipients": blast.recipients, "minutes": blast.minutes},
                "blast_released": bool(await redis.exists(blast_release_key(prefix, account.name))),
            }
        )
    return states


async def release(
    settings: Settings, redis: aioredis.Redis, name: str, window: str, now: float
) -> list[str]:
    """Set the release keys for `name`'s current windows; what was released, one line each."""
    accounts = {a.name: a for a in load_accounts(settings)}
    account = accounts.get(name)
    if account is None:
        raise ConfigurationError(f"no account {name!r} in the accounts (known: {sorted(accounts)})")
    prefix = settings.ledger_key_prefix
    done = []
    for budget_window in WINDOWS if window == "all" else (window,):
        if budget_window == "blast":
            continue
        index = bucket(budget_window, now)
        left = int((index + 1) * WINDOW_SECONDS[budget_window] - now) + 1
        await redis.set(release_key(prefix, name, budget_window, index), "1", ex=left)
        done.append(f"released {name}: {budget_window} budget until the window ends in {left} s")
    if window in ("blast", "all"):
        done.append(await _release_blast(redis, prefix, account))
    return done


async def _release_blast(redis: aioredis.Redis, prefix: str, account: AccountConfig) -> str:
    if account.blast is None:
        return f"{account.name}: the blast-radius guard is off; nothing to release"
    seconds = account.blast.minutes * 60
    await redis.set(blast_release_key(prefix, account.name), "1", ex=seconds)
    return f"released {account.name}: blast-radius guard lifted for {seconds} s"


def render(states: list[dict[str, Any]]) -> str:
    lines = []
    for s in states:
        state = "sending" if not s["held"] else "held: " + ", ".join(s["held"])
        parts = [f"{s['account']:<12} {state:<34}"]
        for label, b in s["budgets"].items():
            mark = " (released)" if b["released"] else ""
            parts.append(f"{label} {b['used']}/{b['limit']} left {b['left']}{mark}")
        blast = s["blast_radius"]
        guard = "off" if blast is None else f"{blast['recipients']} in {blast['minutes']} min"
        parts.append(f"blast {guard}{' (released)' if s['blast_released'] else ''}")
        lines.append("  ".join(parts))
    return "\n".join(lines)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def cli_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pushr-relay accounts",
        description="List the accounts with their state as the running relays share it in "
        "Redis, or release an account's hold. Configured like `pushr-relay run`.",
    )
    sub = parser.add_subparsers(dest="command")
    listing = sub.add_parser("list", help="each account's state and budgets (the default)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    freeing = sub.add_parser("release", help="lift an account's budget or blast-radius hold")
    freeing.add_argument("account")
    freeing.add_argument("--window", choices=RELEASE_WINDOWS, default="all")
    args = parser.parse_args(list(argv))
    settings = Settings()
    if not settings.redis_configured() or settings.ledger_backend != "redis":
        raise ConfigurationError(
            "pushr-relay accounts reads what the relays share in Redis "
            "(PUSHR_RELAY_LEDGER_BACKEND=redis); with the memory ledger each relay's holds "
            "live in its process: see its /readyz and the pushr_relay_account_held metric"
        )
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    redis = redis_client(settings, client_name=f"{settings.client_id}-accounts")
    try:
        return await _answer(settings, args, redis)
    except (RedisError, OSError) as exc:
        print(f"pushr-relay accounts: Redis did not answer: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()


async def _answer(settings: Settings, args: argparse.Namespace, redis: aioredis.Redis) -> int:
    now = time.time()
    if args.command == "release":
        for line in await release(settings, redis, args.account, args.window, now):
            print(line)
        return 0
    states = await account_states(settings, redis, now)
    if getattr(args, "json", False):
        sys.stdout.write("".join(orjson.dumps(s).decode() + "\n" for s in states))
    else:
        print(render(states))
    return 0
