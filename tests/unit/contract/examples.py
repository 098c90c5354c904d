"""The examples of schemas/examples/, shared by the example tests and the regeneration script.

An invalid example's file name starts with the rejection reason it must produce
(`<reason>--<slug>.<ext>`). Examples are judged at NOW with the settings' default limits,
overridden per file by schemas/examples/limits.json. Each example's exact validate output
is kept under schemas/examples/expected/; after a deliberate change, regenerate with
`.venv/bin/python -m tests.unit.contract.examples` and review the diff.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from service.contract import Contract, ContractLimits

ROOT = Path(__file__).resolve().parents[3] / "schemas" / "examples"
NOW = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
LIMITS: dict[str, dict[str, Any]] = orjson.loads((ROOT / "limits.json").read_bytes())


def example_files(kind: str) -> list[Path]:
    return sorted(p for p in (ROOT / kind).iterdir() if p.is_file())


def contract_for(path: Path) -> Contract:
    overrides = dict(LIMITS.get(path.name, {}))
    if "sender_id_allowlist" in overrides:
        overrides["sender_id_allowlist"] = frozenset(overrides["sender_id_allowlist"])
    if "account_senders" in overrides:
        accounts = overrides["account_senders"]
        overrides["account_senders"] = {name: frozenset(ids) for name, ids in accounts.items()}
    return Contract(dataclasses.replace(ContractLimits.defaults(), **overrides))


def output_for(path: Path) -> dict[str, Any]:
    return contract_for(path).decode(path.read_bytes(), now=NOW).to_json_dict()


def expected_path(path: Path) -> Path:
    return ROOT / "expected" / path.parent.name / f"{path.stem}.json"


def regenerate() -> None:
    for kind in ("valid", "invalid"):
        for path in example_files(kind):
            target = expected_path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(orjson.dumps(output_for(path), option=orjson.OPT_INDENT_2) + b"\n")
            print(target.relative_to(ROOT))


if __name__ == "__main__":
    regenerate()
