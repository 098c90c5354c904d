"""Run promtool (Debian's `prometheus` package) on rule files and configuration.

Only the promtool step needs the program: the checks around it run without it, and the
step itself skips outside CI or fails with `CI=true` (see `tests/fixtures/tools.py`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.fixtures.tools import require_tool


def run_promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=cwd,
    )


def check_rules(exprs: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on one recording rule per expression (name -> expr)."""
    rules = [{"record": f"check:{name}", "expr": expr} for name, expr in exprs.items()]
    path = tmp_path / "exprs.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}))
    return run_promtool("check", "rules", path)
