"""Benchmark scenarios and their events (valid, unique numbers, same shape per scenario)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MESSAGE = "Hello from the pushr-relay benchmark! Your code is 4711."
TEMPLATE = "Hi {name}, your order {order_id} for GHS {amount} is ready for pickup!"
SENDER = "PYWE"
_PHASE_OFFSET = {"w": 0, "t": 1_000_000, "p": 5_000_000}


@dataclass(frozen=True)
class Scenario:
    key: str  # a, b, c, d
    title: str
    kind: str  # "sms" | "template"
    recipients: int  # recipients (or rows) per event
    latency_ms: float  # sandbox latency
    warmup: int  # events before measuring
    events: int  # events of the throughput phase
    paced_seconds: float  # length of the half-rate latency phase
    naive_seconds: float  # time bound of the naive consumer

    def requests_per_event(self, batch_size: int) -> int:
        return max(1, -(-self.recipients // batch_size))


def scenarios(quick: bool) -> list[Scenario]:
    if quick:
        return [
            Scenario("a", "single, no latency", "sms", 1, 0, 200, 1500, 3, 2),
            Scenario("b", "single, 200 ms", "sms", 1, 200, 100, 600, 3, 2),
            Scenario("c", "bulk 10,000", "sms", 10_000, 0, 2, 10, 3, 2),
            Scenario("d", "template 1,000 rows", "template", 1000, 0, 5, 60, 3, 2),
        ]
    return [
        Scenario("a", "single, no latency", "sms", 1, 0, 1000, 15_000, 15, 8),
        Scenario("b", "single, 200 ms", "sms", 1, 200, 500, 4000, 15, 8),
        Scenario("c", "bulk 10,000", "sms", 10_000, 0, 5, 60, 15, 8),
        Scenario("d", "template 1,000 rows", "template", 1000, 0, 30, 400, 15, 8),
    ]


def _number(n: int) -> str:
    # local Ghanaian mobile form; the relay normalises it to 233...
    return f"055{n % 10_000_000:07d}"


def event(scenario: Scenario, phase: str, seq: int) -> tuple[str, bytes]:
    """(event_id, JSON bytes) of event `seq` of a phase; numbers never repeat in one run."""
    event_id = f"bench-{scenario.key}-{phase}-{seq:06d}"
    base = _PHASE_OFFSET.get(phase, 0) + seq * scenario.recipients
    body: dict[str, Any] = {"event_id": event_id, "sender_id": SENDER}
    if scenario.kind == "template":
        body["template"] = TEMPLATE
        body["business"] = 1
        body["rows"] = [
            {
                "contact": _number(base + i),
                "name": f"Customer {i}",
                "order_id": f"ORD{seq:05d}{i:04d}",
                "amount": f"{(i % 500) + 1}.50",
            }
            for i in range(scenario.recipients)
        ]
    else:
        body["message"] = MESSAGE
        body["recipients"] = [_number(base + i) for i in range(scenario.recipients)]
    return event_id, orjson.dumps(body)


# --- what the relay sends Push.R for one batch (for the raw request loops) -----------------


def sms_payload(recipients: int, public: str, secret: str) -> bytes:
    return orjson.dumps(
        {
            "api_key_public": public,
            "api_key_secret": secret,
            "message": MESSAGE,
            "recipients": [f"23355{n:07d}" for n in range(recipients)],
            "scheduled": False,
            "sender_id": SENDER,
        }
    )


def template_form(rows: int, public: str, secret: str) -> tuple[dict[str, str], bytes]:
    data = {
        "business": "1",
        "template": TEMPLATE,
        "scheduled": "false",
        "api_key_public": public,
        "api_key_secret": secret,
        "sender_id": SENDER,
    }
    lines = ["contact,name,order_id,amount"]
    lines += [f"23355{i:07d},Customer {i},ORD{i:09d},{(i % 500) + 1}.50" for i in range(rows)]
    return data, ("\n".join(lines) + "\n").encode()
