"""Which accounts are held, and why: metrics, readiness, a log line, and (with Redis) the
shared record `pushr-relay accounts` reads.

`sending_paused{reason}` keeps its single-account meaning (1 while any account is paused
for that reason); `account_held{account,reason}` says which. Readiness fails only when
Push.R refused the keys of every account: a replica that can send for one account is of
use, and a restart would not fix another's keys.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine, Iterable
from typing import Any

import redis.asyncio as aioredis

from service.clock import Clock
from service.observability.health import Health
from service.observability.logging import get_logger
from service.observability.metrics import PAUSE_REASONS, Metrics

log = get_logger(__name__)

CREDENTIALS_REJECTED = "credentials_rejected"
SHARED_HOLD_SECONDS = 86_400


def held_key(prefix: str, account: str) -> str:
    """Hash of reason -> epoch seconds since when, per account, shared by the replicas."""
    return f"{prefix}accounts:{account}:held"


class HeldAccounts:
    def __init__(
        self,
        names: Iterable[str],
        metrics: Metrics,
        health: Health,
        clock: Clock,
        *,
        redis: aioredis.Redis | None = None,
        prefix: str = "",
    ) -> None:
        self.names = tuple(names)
        self._metrics = metrics
        self._health = health
        self._clock = clock
        self._redis = redis
        self._prefix = prefix
        self.reasons: dict[str, set[str]] = defaultdict(set)
        self._writes: set[asyncio.Task[None]] = set()
        if len(self.names) > 1:  # one account: /readyz's body stays as it always was
            health.account_detail = self.detail

    def change(self, account: str, reason: str, closed: bool) -> None:
        held = self.reasons[account]
        if closed:
            held.add(reason)
        else:
            held.discard(reason)
        self._metrics.accounts.account_held.labels(account, reason).set(1 if closed else 0)
        if reason in PAUSE_REASONS:
            anyone = any(reason in r for r in self.reasons.values())
            self._metrics.sending_paused.labels(reason).set(1 if anyone else 0)
        rejected = sum(1 for name in self.names if CREDENTIALS_REJECTED in self.reasons[name])
        self._health.credentials_ok = rejected < len(self.names)
        log.warning(
            "sending_paused" if closed else "sending_resumed", reason=reason, account=account
        )
        if self._redis is not None:
            self._write(self._share(account, reason, closed))

    def detail(self) -> dict[str, list[str]]:
        """Held accounts and their reasons, for /readyz."""
        return {name: sorted(r) for name, r in sorted(self.reasons.items()) if r}

    async def _share(self, account: str, reason: str, closed: bool) -> None:
        assert self._redis is not None
        key = held_key(self._prefix, account)
        try:
            if closed:
                await self._redis.hset(key, reason, str(int(self._clock.now())))
                # a relay that stops while held cannot clear its mark: it fades in a day
                await self._redis.expire(key, SHARED_HOLD_SECONDS)
            else:
                await self._redis.hdel(key, reason)
        except Exception as exc:  # best effort: the hold itself works without it
            log.warning("account_state_share_failed", account=account, error=type(exc).__name__)

    def _write(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
