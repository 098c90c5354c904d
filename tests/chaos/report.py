"""The chaos report: rows per scenario, written as reports/chaos.json and a markdown table."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

from service.kafka.admin import create_topics
from tests.chaos.harness import ROOT


@dataclass
class Row:
    scenario: str
    runs: int = 0
    events: int = 0
    lost: int = 0
    duplicates: int = 0
    unknown: int = 0
    longest_recovery_s: float | None = None
    notes: list[str] = field(default_factory=list)
    passed: bool = True
    # reconciliation, when the scenario ran with it (tests/chaos/reconcile_check.py)
    reconciled: dict[str, int] | None = None


class ChaosReport:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.started = time.time()
        self.full = False
        self.leaks_scanned = 0
        self.leaks_found = 0

    def add(
        self,
        scenario: str,
        *,
        events: int,
        lost: int,
        duplicates: int,
        unknown: int = 0,
        recovery_s: float | None = None,
        note: str = "",
        reconciled: dict[str, int] | None = None,
    ) -> None:
        row = self.rows.setdefault(scenario, Row(scenario))
        if reconciled is not None:
            row.reconciled = {
                k: (row.reconciled or {}).get(k, 0) + v for k, v in reconciled.items()
            }
        row.runs += 1
        row.events += events
        row.lost += lost
        row.duplicates += duplicates
        row.unknown += unknown
        if recovery_s is not None:
            row.longest_recovery_s = round(max(row.longest_recovery_s or 0.0, recovery_s), 2)
        if note:
            row.notes.append(note)

    def leak_scan(self, scanned: int, found: int) -> None:
        """A leak check ran over `scanned` log lines, outbound events and dead letters."""
        self.leaks_scanned += scanned
        self.leaks_found += found

    def fail(self, scenario: str) -> None:
        """Mark the scenario's rows failed (a run may report one row per workload)."""
        rows = [r for name, r in self.rows.items() if name.startswith(scenario)]
        for row in rows or [self.rows.setdefault(scenario, Row(scenario))]:
            row.passed = False

    def table(self) -> str:
        lines = [
            "| scenario | runs | events | lost | duplicates | unknown | ambiguous before | "
            "reconciled sent | not sent, then sent | left ambiguous | wrong verdicts | "
            "longest recovery (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        keys = ("ambiguous_before", "reconciled_sent", "reconciled_not_sent_then_sent",
                "left_ambiguous", "wrong_verdicts")  # fmt: skip
        for r in self.rows.values():
            rec = "-" if r.longest_recovery_s is None else f"{r.longest_recovery_s:.1f}"
            name = r.scenario if r.passed else f"{r.scenario} (FAILED)"
            seen = " | ".join("-" if r.reconciled is None else str(r.reconciled[k]) for k in keys)
            lines.append(
                f"| {name} | {r.runs} | {r.events} | {r.lost} | {r.duplicates} | "
                f"{r.unknown} | {seen} | {rec} |"
            )
        lines.append("")
        lines.append(
            f"Leak check (API secret, full phone numbers): {self.leaks_scanned} log lines, "
            f"outbound events and dead letters scanned, {self.leaks_found} leaks."
        )
        return "\n".join(lines) + "\n"

    def write(self) -> Path | None:
        if not self.rows:
            return None
        reports = ROOT / "reports"
        reports.mkdir(exist_ok=True)
        stem = "chaos" if self.full else "chaos-short"
        body: dict[str, Any] = {
            "suite": "full" if self.full else "short",
            "started_at": self.started,
            "duration_s": round(time.time() - self.started, 1),
            "scenarios": [asdict(r) for r in self.rows.values()],
            "leak_check": {"scanned": self.leaks_scanned, "leaks": self.leaks_found},
        }
        (reports / f"{stem}.json").write_text(json.dumps(body, indent=2) + "\n")
        (reports / f"{stem}.md").write_text(self.table())
        return reports / f"{stem}.json"


async def make_chaos_topics(
    bootstrap: str, partitions: int, replication: int = 1
) -> tuple[str, str, str]:
    suffix = uuid4().hex[:10]
    names = (f"chaos-in-{suffix}", f"chaos-out-{suffix}", f"chaos-dlq-{suffix}")
    config = {"max.message.bytes": str(16 * 1024 * 1024)}
    if replication > 1:
        config["min.insync.replicas"] = "2"
    await create_topics(bootstrap, list(names), partitions, replication, config=config)
    return names
