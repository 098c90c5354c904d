"""A `ConsumerLoop` over a test's fake consumer, with roomy limits unless a test sets its own."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from service.clock import SystemClock
from service.contract import REJECTION_REASONS
from service.kafka.consume import ConsumerLoop
from service.observability.health import Health
from service.observability.metrics import Metrics


def consumer_loop(
    consumer: Any, handle: Any, *, registry: CollectorRegistry | None = None, **overrides: Any
) -> ConsumerLoop:
    options: dict[str, Any] = {
        "max_in_flight": 100,
        "max_in_flight_per_partition": 100,
        "fetch_max_records": 100,
        "revoke_deadline": 1,
        **overrides,
    }
    return ConsumerLoop(
        consumer,
        handle,
        metrics=Metrics(registry or CollectorRegistry(), REJECTION_REASONS),
        health=Health(clock=SystemClock(), stall_seconds=60),
        **options,
    )
