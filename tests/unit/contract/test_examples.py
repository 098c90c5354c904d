"""Every published example goes through the real decoder (validation + normalisation)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from service.contract import Accepted, Rejection
from service.contract.model import REJECTION_REASONS
from tests.unit.contract.examples import (
    LIMITS,
    NOW,
    ROOT,
    contract_for,
    example_files,
    expected_path,
    output_for,
)

VALID = example_files("valid")
INVALID = example_files("invalid")


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_example_is_accepted_and_normalisation_is_a_fixed_point(path: Path) -> None:
    contract = contract_for(path)
    result = contract.decode(path.read_bytes(), now=NOW)
    assert isinstance(result, Accepted), result
    again = contract.decode(orjson.dumps(result.request.to_json_dict()), now=NOW)
    assert isinstance(again, Accepted)
    assert again.request == result.request


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_example_is_rejected_with_the_reason_in_its_name(path: Path) -> None:
    reason = path.name.split("--", 1)[0]
    assert reason in REJECTION_REASONS
    result = contract_for(path).decode(path.read_bytes(), now=NOW)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.errors


@pytest.mark.parametrize("path", VALID + INVALID, ids=_ids(VALID + INVALID))
def test_example_output_is_the_documented_one(path: Path) -> None:
    expected = orjson.loads(expected_path(path).read_bytes())
    assert output_for(path) == expected, (
        "regenerate with `.venv/bin/python -m tests.unit.contract.examples` if intended"
    )


def test_every_rejection_reason_has_an_invalid_example() -> None:
    covered = {p.name.split("--", 1)[0] for p in INVALID}
    assert covered == set(REJECTION_REASONS)


def test_no_stale_expected_outputs_or_limits() -> None:
    examples = {expected_path(p) for p in VALID + INVALID}
    assert set((ROOT / "expected").rglob("*.json")) == examples
    assert set(LIMITS) <= {p.name for p in INVALID + VALID}
