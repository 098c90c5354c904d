"""A circuit breaker per Push.R endpoint.

    CLOSED --(N consecutive failures, or failure rate >= r over the last W calls)--> OPEN
    OPEN --(open_seconds passed; checked lazily)--> HALF_OPEN
    HALF_OPEN: exactly one probe at a time; everyone else is refused at once
    probe success --> CLOSED (counters reset); probe failure --> OPEN (timer restarts)

Verdicts the client reports:
- failure: RETRY_SAFE (5xx, 408, connect errors) and AMBIGUOUS (timeouts, resets): the
  endpoint is not answering properly.
- success: any definite answer from Push.R, including REJECTED, INSUFFICIENT_BALANCE and
  UNAUTHORIZED (the endpoint works; the engine deals with those).
- neutral: 429, and a probe cancelled before it finished. A 429 is the provider asking us
  to slow down, which is flow control (Retry-After, rate limit), not a broken endpoint;
  opening on it would replace the provider's own schedule with ours.

Single-threaded asyncio: no locks needed, since no method awaits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum, StrEnum
from typing import NamedTuple

from service.clock import Clock
from service.settings import Settings

StateCallback = Callable[[str, str], None]


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Verdict(Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"


class Permit(NamedTuple):
    probe: bool
    generation: int


class CircuitBreaker:
    def __init__(
        self,
        endpoint: str,
        *,
        clock: Clock,
        consecutive_failures: int,
        failure_rate: float,
        window: int,
        open_seconds: float,
        on_state_change: StateCallback | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._clock = clock
        self._max_consecutive = consecutive_failures
        self._rate = failure_rate
        self._open_seconds = open_seconds
        self._on_state_change = on_state_change
        self._state = State.CLOSED
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=window)  # True = failure
        self._opened_at = 0.0
        self._probe_out = False
        self._generation = 0  # bumped on every opening

    @property
    def state(self) -> State:
        if self._state is State.OPEN and self.open_remaining() <= 0:
            self._set(State.HALF_OPEN)
        return self._state

    def open_remaining(self) -> float:
        """Seconds until a probe may go (0 unless OPEN)."""
        if self._state is not State.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._open_seconds - self._clock.monotonic())

    def try_acquire(self) -> Permit | None:
        """A permit to send now, or None (refused). A HALF_OPEN permit makes its holder
        the probe: it must `record` a verdict (NEUTRAL if it gave up) to free the slot."""
        state = self.state
        if state is State.CLOSED:
            return Permit(probe=False, generation=self._generation)
        if state is State.HALF_OPEN and not self._probe_out:
            self._probe_out = True
            return Permit(probe=True, generation=self._generation)
        return None

    def record(self, permit: Permit, verdict: Verdict) -> None:
        if permit.probe:
            self._probe_out = False
            if self._state is State.HALF_OPEN:
                if verdict is Verdict.SUCCESS:
                    self._close()
                elif verdict is Verdict.FAILURE:
                    self._open()
            return
        if permit.generation != self._generation or verdict is Verdict.NEUTRAL:
            # Answers to requests sent before the breaker last opened change nothing:
            # a slow old failure must not re-open it, nor a slow old success close it.
            return
        failed = verdict is Verdict.FAILURE
        self._consecutive = self._consecutive + 1 if failed else 0
        self._recent.append(failed)
        full = len(self._recent) == self._recent.maxlen
        if self._consecutive >= self._max_consecutive or (
            full and sum(self._recent) >= self._rate * len(self._recent)
        ):
            self._open()

    def _open(self) -> None:
        self._generation += 1
        self._opened_at = self._clock.monotonic()
        self._set(State.OPEN)

    def _close(self) -> None:
        self._consecutive = 0
        self._recent.clear()
        self._set(State.CLOSED)

    def _set(self, state: State) -> None:
        if state is not self._state:
            self._state = state
            if self._on_state_change is not None:
                self._on_state_change(self.endpoint, state.value)


class BreakerSet:
    """One breaker per endpoint, created on first use with the same configuration."""

    def __init__(
        self,
        *,
        clock: Clock,
        consecutive_failures: int,
        failure_rate: float,
        window: int,
        open_seconds: float,
        on_state_change: StateCallback | None = None,
    ) -> None:
        self._make: Callable[[str], CircuitBreaker] = lambda endpoint: CircuitBreaker(
            endpoint,
            clock=clock,
            consecutive_failures=consecutive_failures,
            failure_rate=failure_rate,
            window=window,
            open_seconds=open_seconds,
            on_state_change=on_state_change,
        )
        self._breakers: dict[str, CircuitBreaker] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Clock, on_state_change: StateCallback | None = None
    ) -> BreakerSet:
        return cls(
            clock=clock,
            consecutive_failures=settings.breaker_consecutive_failures,
            failure_rate=settings.breaker_failure_rate,
            window=settings.breaker_window,
            open_seconds=settings.breaker_open_seconds,
            on_state_change=on_state_change,
        )

    def __getitem__(self, endpoint: str) -> CircuitBreaker:
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            breaker = self._breakers[endpoint] = self._make(endpoint)
        return breaker

    def states(self) -> dict[str, str]:
        return {name: b.state.value for name, b in self._breakers.items()}
