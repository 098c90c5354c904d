"""What a Push.R call came to, as the delivery engine needs to know it, and the hooks that
see each attempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

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
