"""Micro-benchmark of the contract hot path, in one process (no broker, no sandbox).

    .venv/bin/python -m tests.bench.bench_contract [--rounds 5]

Decodes the benchmark's own (c) and (d) events (tests/bench/events.py: unique numbers, so the
`normalise_phone` cache does not flatter the figures) and builds the result events of one
decoded bulk event (100 masked numbers each). Prints numbers/s, best of `--rounds`.
Not collected by pytest (no `test_` prefix).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from service.contract.decoder import Contract
from service.contract.events import build_result_event
from service.contract.masking import mask_phone
from service.contract.model import Accepted, ContractLimits
from service.contract.phones import normalise_phone
from tests.bench.events import event, scenarios

_NOW = 1_700_000_000.0


def _best(rounds: int, run: Callable[[int], int]) -> float:
    """Best items/s over `rounds` calls of `run(round) -> items done`."""
    best = 0.0
    for r in range(rounds):
        start = time.perf_counter()
        items = run(r)
        best = max(best, items / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    by_key = {s.key: s for s in scenarios(quick=True)}
    contract = Contract(ContractLimits.defaults())
    # The seq offset keeps every round's numbers new: a cached number costs nothing.
    seq = iter(range(10_000))

    def decode(key: str, phase: str) -> Callable[[int], int]:
        scenario = by_key[key]

        def run(_: int) -> int:
            _event_id, raw = event(scenario, phase, next(seq))
            result = contract.decode(raw, now=_NOW)
            assert isinstance(result, Accepted), result
            return len(result.request.recipients)

        return run

    _, bulk = event(by_key["c"], "p", 9_999)
    accepted = contract.decode(bulk, now=_NOW)
    assert isinstance(accepted, Accepted)
    numbers = accepted.request.recipients

    def results(_: int) -> int:
        for i in range(0, len(numbers), 100):
            build_result_event(
                event_id="bench",
                idempotency_key=None,
                batch_index=i // 100,
                batch_count=len(numbers) // 100,
                batch_key="k",
                outcome="sent",
                recipients=numbers[i : i + 100],
                provider_units=100,
                attempts=1,
                latency_ms=1.0,
                produced_at=_NOW,
            )
        return len(numbers)

    raw_numbers = [f"055{n:07d}" for n in range(3_000_000, 3_050_000)]

    def phones(r: int) -> int:
        chunk = raw_numbers[r * 10_000 : (r + 1) * 10_000]
        for raw in chunk:
            normalise_phone(raw)
        return len(chunk)

    def masks(_: int) -> int:
        for number in numbers:
            mask_phone(number)
        return len(numbers)

    rounds = min(args.rounds, 5)
    bulk_rate = _best(rounds, decode("c", "t"))
    rows_rate = _best(rounds, decode("d", "w"))
    print(f"decode (c) 10,000 recipients : {bulk_rate:>12,.0f} recipients/s")
    print(f"decode (d) 1,000 rows        : {rows_rate:>12,.0f} rows/s")
    print(f"normalise_phone 0XXXXXXXXX   : {_best(rounds, phones):>12,.0f} numbers/s")
    print(f"mask_phone 233XXXXXXXXX      : {_best(rounds, masks):>12,.0f} numbers/s")
    print(f"result events, 100 numbers   : {_best(rounds, results):>12,.0f} numbers/s")


if __name__ == "__main__":
    main()
