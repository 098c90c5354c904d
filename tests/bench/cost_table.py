"""Where the relay's CPU goes, by step, per event and per recipient: py-spy's samples of a run
(`run.py --profile acd`, files reports/profile-<scenario>.txt) split the CPU seconds that the
same run measured over its throughput phase.

    .venv/bin/python -m tests.bench.cost_table reports/bench-profile.json [--out reports/cost.md]

A sample is charged to one step: to `logs` or `metrics` when either is anywhere on its stack
(a log line's cost includes the masking its scrubber does), else to the step of the innermost
frame that names one, else to `kafka client I/O` for aiokafka's shared connection code, else
to `event loop & other`. Inside the decoder, the line decides between decode and validate.
A thread-pool worker waiting for work (the relay decodes large events in a thread) is idle,
although py-spy samples it: such samples are left out.
"""

from __future__ import annotations

import argparse
import json
import linecache
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

STEPS = (
    "fetch", "decode", "validate", "normalise", "plan", "ledger", "HTTP", "build events",
    "produce", "commit", "metrics", "logs", "pipeline glue", "kafka client I/O",
    "event loop & other",
)  # fmt: skip
_ANYWHERE = (
    ("logs", ("structlog/", "/logging/__init__.py", "service/observability/logging.py")),
    ("metrics", ("prometheus_client/", "service/observability/metrics.py")),
)
_INNERMOST = (
    ("validate", ("service/contract/schemas.py", "service/contract/accept.py",
                  "service/contract/model.py")),
    ("normalise", ("service/contract/phones.py", "service/contract/normalise.py",
                   "service/contract/rows.py", "phonenumbers/")),
    ("plan", ("service/pipeline/plan.py", "service/contract/segments.py")),
    ("ledger", ("service/ledger/",)),
    ("HTTP", ("service/pushr/", "httpx/", "httpcore/", "httpx_aiohttp/", "aiohttp/", "yarl/",
              "multidict/", "anyio/", "sniffio/", "h11/")),
    ("build events", ("service/contract/events.py", "service/contract/masking.py",
                      "service/pipeline/outbound.py")),
    ("produce", ("service/pipeline/publish.py", "aiokafka/producer/")),
    ("commit", ("service/kafka/offsets.py", "aiokafka/consumer/group_coordinator.py")),
    ("fetch", ("aiokafka/consumer/",)),
    ("pipeline glue", ("service/pipeline/", "service/kafka/consume.py")),
)  # fmt: skip
_FALLBACK = (("kafka client I/O", ("aiokafka/",)),)
_IDLE_WORKER = "concurrent/futures/thread.py"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _match(path: str, rules: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    for step, markers in rules:
        if any(m in path for m in markers):
            return step
    return None


def _decoder_step(path: str, line: int) -> str:
    source = linecache.getline(path, line) if line else ""
    return "validate" if "is_valid" in source or "_validator" in source else "decode"


def classify(frames: list[str]) -> str:
    """The step of one sampled stack (py-spy raw frames, outermost first)."""
    parsed = []
    for frame in frames:
        m = _FRAME.match(frame)
        if m is not None:
            parsed.append((m.group("file"), int(m.group("line") or 0)))
    for path, _ in parsed:
        step = _match(path, _ANYWHERE)
        if step is not None:
            return step
    for path, line in reversed(parsed):
        if path.endswith("service/contract/decoder.py"):
            return _decoder_step(path, line)
        step = _match(path, _INNERMOST)
        if step is not None:
            return step
    for path, _ in reversed(parsed):
        step = _match(path, _FALLBACK)
        if step is not None:
            return step
    return "event loop & other"


def is_idle_worker(frames: list[str]) -> bool:
    """A concurrent.futures worker blocked on its queue, with no work item under it."""
    return bool(frames) and frames[-1].startswith("_worker (") and _IDLE_WORKER in frames[-1]


def step_samples(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if not is_idle_worker(frames):
                counts[classify(frames)] += int(count)
    return counts


def costs(scenario: dict[str, Any], samples: Counter[str]) -> dict[str, dict[str, float]]:
    """Per step: share of samples, CPU µs per event and per recipient."""
    total = sum(samples.values())
    per_event_us = 1000 * scenario["service"]["cpu_s_per_1000_events"]
    recipients = scenario["params"]["recipients"]
    out = {}
    for step in STEPS:
        share = samples.get(step, 0) / total if total else 0.0
        out[step] = {
            "share": share,
            "us_per_event": share * per_event_us,
            "us_per_recipient": share * per_event_us / recipients,
        }
    return out


def markdown(data: dict[str, Any], profiles: dict[str, Counter[str]]) -> str:
    scen = [s for s in data["scenarios"] if s["scenario"] in profiles]
    tables = {s["scenario"]: costs(s, profiles[s["scenario"]]) for s in scen}
    head = "| step | " + " | ".join(
        f"{s['scenario']}: µs / event | {s['scenario']}: µs / recipient | {s['scenario']}: %"
        for s in scen
    )
    rows = [head + " |", "|" + "---|" * (1 + 3 * len(scen))]
    for step in (*STEPS, "total"):
        cells = []
        for s in scen:
            if step == "total":
                per_event = 1000 * s["service"]["cpu_s_per_1000_events"]
                per_rcpt = per_event / s["params"]["recipients"]
                n = sum(profiles[s["scenario"]].values())
                cells += [f"{per_event:,.0f}", f"{per_rcpt:,.1f}", f"100 ({n:,} samples)"]
                continue
            c = tables[s["scenario"]][step]
            cells += [f"{c['us_per_event']:,.0f}", f"{c['us_per_recipient']:,.1f}",
                      f"{100 * c['share']:.1f}"]  # fmt: skip
        rows.append(f"| {'**total**' if step == 'total' else step} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.cost_table")
    ap.add_argument("bench", type=Path, help="the run's bench JSON")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)
    data = json.loads(args.bench.read_text())
    profiles = {}
    for s in data["scenarios"]:
        path = args.bench.parent / f"profile-{s['scenario']}.txt"
        if path.is_file():
            profiles[s["scenario"]] = step_samples(path)
    if not profiles:
        print(f"no profile-<scenario>.txt beside {args.bench}; run with --profile", file=sys.stderr)
        return 1
    table = markdown(data, profiles)
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
