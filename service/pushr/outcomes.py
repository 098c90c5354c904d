"""What a Push.R call came to, as the delivery engine needs to know it, the hooks that
see each attempt, and the turn the engine gives each attempt of a batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import httpx

from service.priority import DEFAULT_PRIORITY, Priority

# One HTTP exchange, as `httpx.AsyncClient.send` does it.
SendFn = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # 201: Push.R took the request (it is charged)
    REJECTED = "rejected"  # 400/404 other than balance: never retry
    INSUFFICIENT_BALANCE = "insufficient_balance"  # 400 balance: pause until topped up
    UNAUTHORIZED = "unauthorized"  # 401/403: stop sending, not ready
    RETRY_SAFE = "retry_safe"  # not sent for sure (connect error, 408, 429, 5xx): retry
    AMBIGUOUS = "ambiguous"  # may have been sent (timeout after write, reset mid-answer)
    BREAKER_OPEN = "breaker_open"  # not attempted: the endpoint's breaker is open
    EXPIRED = "expired"  # not attempted: the caller's expiry passed before the request


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """The final answer of one logical request, after the client's own retries."""

    outcome: Outcome
    endpoint: str  # "send-sms" | "custom" | "list"
    status_code: int | None = None
    body: dict[str, Any] | None = None
    detail: str = ""  # a short, secret-free, number-free reason
    retry_after: float | None = None
    attempts: int = 1
    latency_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClientHooks:
    """Callbacks for the metrics module; this package imports no metrics library."""

    # every attempt that reached the network, and every breaker refusal
    on_request: Callable[[str, Outcome], None] | None = None
    # seconds of one attempt on the network (not the logical call)
    on_latency: Callable[[str, float], None] | None = None
    # an attempt that was a retry
    on_retry: Callable[[str], None] | None = None
    # wraps the HTTP send of every attempt (tracing); None sends directly
    wrap_send: Callable[[SendFn], SendFn] | None = None


@dataclass(frozen=True, slots=True)
class SendTurn:
    """How a call's attempts go. The deliverer's batches make their own retries (`mine`):
    the client then makes exactly one attempt, so no backoff is slept holding a send slot
    or a ledger claim. Other calls (`mine=False`) retry in the client."""

    lane: Priority = DEFAULT_PRIORITY  # place in the rate limit's line
    expires_at: float | None = None  # epoch seconds: no request at or after it
    attempts_before: int = 0  # attempts already made for the batch (counted on)
    on_request: Callable[[], None] | None = None  # right before the request goes out
    mine: bool = True  # the caller retries: one attempt per call
    EXPIRED: ClassVar[str] = "expires_at passed before the request was sent"

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def requested(self) -> None:
        if self.on_request is not None:
            self.on_request()
