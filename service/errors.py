"""The small tree of exceptions that steers the pipeline.

    RelayError
     ├── Poison          never retry: dead-letter it (bad bytes, schema, no valid recipient)
     ├── Backpressure    not now: pause and try again later (in-flight limits, balance, breaker)
     └── Retriable       a dependency failed transiently (Kafka, Redis); retry the step
          └── LedgerUnavailable   nothing may be sent until the ledger answers again

Provider answers are not exceptions: the Push.R client returns a classified outcome
(`service.pushr.outcomes.Outcome`): accepted, rejected, retry-safe, ambiguous.
Messages never contain a secret or a full phone number.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of every error the relay raises on purpose."""


class Poison(RelayError):
    """The input can never be processed; it belongs in the dead-letter topic."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class Backpressure(RelayError):
    """Stop taking work for a while; nothing is lost, the work is retried."""


class Retriable(RelayError):
    """A dependency failed transiently; the same step may be tried again."""


class LedgerUnavailable(Retriable):
    """The idempotency ledger did not answer; sending must wait for it."""


class CredentialsRejected(RelayError):
    """Push.R answered 401/403: stop sending and report not ready."""
