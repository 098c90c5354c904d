"""Validations per second of the inbound schema: jsonschema-rs vs fastjsonschema vs jsonschema,
and the whole `Contract.decode` hot path.

Not collected by pytest (no `test_` prefix). Run:  .venv/bin/python -m tests.bench.bench_validators
Each figure is the best of 5 rounds of `--seconds` each; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import jsonschema_rs
import orjson

SCHEMA = orjson.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "sms-request.v1.json").read_bytes()
)

VALID: dict[str, Any] = {
    "event_id": "0b7e6f8e-5c1f-4a53-9d0c-2f7a3c1e9b10",
    "idempotency_key": "order-4711-confirmation",
    "message": "Hi Ama, your order ORD123 for GHS 150.00 is ready for pickup at Osu.",
    "recipients": ["233558544343", "0548769324", "+233 24 123 4567", "0201234567", "0501234567"],
    "sender_id": "PYWE",
    "scheduled_at": "2099-01-20T14:30:00Z",
    "delivery": "at_least_once",
    "metadata": {"tenant": "shop-42", "campaign": "pickup", "trace": "abc123"},
}
INVALID: dict[str, Any] = {
    "event_id": "",
    "message": "x" * 501,
    "recipients": ["233558544343", 233548769324],
    "sender_id": "TOO-LONG-SENDER",
    "schedule_at": "tomorrow",
}


def _rate(fn: Callable[[], object], seconds: float) -> float:
    best = 0.0
    for _ in range(5):
        n, start = 0, time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(200):
                fn()
            n += 200
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.4)
    args = parser.parse_args()

    rs = jsonschema_rs.validator_for(SCHEMA)
    fast = fastjsonschema.compile(SCHEMA)
    py = jsonschema.Draft202012Validator(SCHEMA)

    def fast_errors(instance: Any) -> list[Any]:
        try:
            fast(instance)
        except fastjsonschema.JsonSchemaException as exc:
            return [exc]  # fastjsonschema stops at the first error
        return []

    candidates: dict[str, tuple[Callable[[Any], object], Callable[[Any], object]]] = {
        # (valid path: yes/no answer, invalid path: every error with its path)
        "jsonschema-rs": (rs.is_valid, lambda i: rs.is_valid(i) or list(rs.iter_errors(i))),
        "fastjsonschema": (fast_errors, fast_errors),
        "jsonschema": (py.is_valid, lambda i: py.is_valid(i) or list(py.iter_errors(i))),
    }
    assert rs.is_valid(VALID)
    assert py.is_valid(VALID)
    assert not fast_errors(VALID)
    print(f"{'validator':<16}{'valid/s':>12}{'invalid/s':>12}  errors reported on INVALID")
    for name, (ok, bad) in candidates.items():
        errors = bad(INVALID)
        count = len(errors) if isinstance(errors, list) else 0
        valid_rate = _rate(functools.partial(ok, VALID), args.seconds)
        invalid_rate = _rate(functools.partial(bad, INVALID), args.seconds)
        print(f"{name:<16}{valid_rate:>12,.0f}{invalid_rate:>12,.0f}  {count}")

    # The whole hot path as the pipeline calls it: bytes -> Accepted | Rejection.
    from service.contract import Contract, ContractLimits  # noqa: PLC0415 - after the figures above

    contract = Contract(ContractLimits.defaults())
    valid_raw, invalid_raw = orjson.dumps(VALID), orjson.dumps(INVALID)
    now = time.time()
    valid_rate = _rate(lambda: contract.decode(valid_raw, now=now), args.seconds)
    invalid_rate = _rate(lambda: contract.decode(invalid_raw, now=now), args.seconds)
    print(f"{'Contract.decode':<16}{valid_rate:>12,.0f}{invalid_rate:>12,.0f}  (5 recipients)")


if __name__ == "__main__":
    main()
