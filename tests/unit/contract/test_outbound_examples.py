"""The outbound examples of schemas/examples/outbound/: each `valid/` file is accepted by the
schema its name starts with (`result-`, `status-`), by the relay's validator and the
reference one alike; each `invalid/` file is refused by both."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import orjson
import pytest
import yaml

from service.contract.schemas import RESULT, STATUS, compiled, load_schema

ROOT = Path(__file__).resolve().parents[3] / "schemas" / "examples" / "outbound"
SCHEMA = {"result": RESULT, "status": STATUS}
VALID = sorted((ROOT / "valid").glob("*.json"))
INVALID = sorted((ROOT / "invalid").glob("*.json"))


def judged(path: Path) -> tuple[bool, bool]:
    name = SCHEMA[path.name.split("-", 1)[0]]
    instance = orjson.loads(path.read_bytes())
    reference = jsonschema.Draft202012Validator(load_schema(name))
    return compiled(name).is_valid(instance), reference.is_valid(instance)


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_outbound_example(path: Path) -> None:
    assert judged(path) == (True, True)


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_outbound_example(path: Path) -> None:
    assert judged(path) == (False, False)


def test_every_reconciliation_value_has_an_example() -> None:
    values = {orjson.loads(p.read_bytes()).get("reconciliation") for p in VALID}
    assert values >= {"pending", "sent", "not_sent", "ambiguous"}


def test_asyncapi_examples_match_their_schemas() -> None:
    document = yaml.safe_load((ROOT.parents[1] / "asyncapi.yaml").read_text(encoding="utf-8"))
    checked = 0
    for message in document["components"]["messages"].values():
        schema = message["payload"]["schema"]["$ref"].removeprefix("./")
        for example in message.get("examples", []):
            assert compiled(schema).is_valid(example["payload"]), example["name"]
            checked += 1
    assert checked >= 3
