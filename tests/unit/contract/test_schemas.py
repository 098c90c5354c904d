"""The schema files themselves: well-formed, versioned, referenced, documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from service.contract.model import REJECTION_REASONS
from service.contract.phones import REASON_TEXT
from service.contract.schemas import (
    ALL_SCHEMAS,
    REQUEST,
    SCHEMAS_DIR_ENV,
    compiled,
    load_schema,
    schemas_dir,
)
from service.settings import Settings
from tests.unit.contract.examples import example_files

DIR = Path(__file__).resolve().parents[3] / "schemas"
README = (DIR / "README.md").read_text(encoding="utf-8")

# Every FieldError code the contract can produce (schemas.py, normalise.py, decoder.py).
FIELD_ERROR_CODES = [
    "empty",
    "too_large",
    "not_utf8",
    "not_json",
    "type",
    "required",
    "unknown_field",
    "enum",
    "const",
    "too_short",
    "too_long",
    "too_few_items",
    "too_many_items",
    "too_small",
    "too_large",
    "pattern",
    "invalid_name",
    "not_allowed",
    "invalid",
    "timezone_required",
    "invalid_datetime",
    "expires_before_schedule",
    "schedule_passed",
    "blank",
    "stray_brace",
    "missing_variable",
    "rendered_too_long",
    "rendered_blank",
    "too_deep",
    "unknown",
]
WARNING_CODES = [
    "duplicates_removed",
    "ucs2_forced",
    "schedule_passed",
    "expired",
    "priority_overridden",
    "expiry_defaulted",
]


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_schema_is_valid_2020_12_with_a_versioned_id(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    stem, version = re.fullmatch(r"(.+)\.v(\d+)\.json", name).groups()  # type: ignore[union-attr]
    assert schema["$id"] == f"https://schemas.pushr-relay.dev/{stem}/v{version}.json"


def _properties(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        found |= set(schema.get("properties", {}))
        for value in schema.values():
            found |= _properties(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _properties(value)
    return found


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_readme_documents_every_field(name: str) -> None:
    missing = [p for p in sorted(_properties(load_schema(name))) if f"`{p}`" not in README]
    assert missing == []


def test_readme_documents_every_code() -> None:
    codes = [*REJECTION_REASONS, *REASON_TEXT, *FIELD_ERROR_CODES, *WARNING_CODES]
    assert [c for c in codes if f"`{c}`" not in README] == []


def test_examples_agree_with_the_reference_validator() -> None:
    # Producers will use other validators; the schema must mean the same to them.
    reference = jsonschema.Draft202012Validator(load_schema(REQUEST))
    for path in example_files("valid") + example_files("invalid"):
        try:
            instance = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue
        assert reference.is_valid(instance) == compiled(REQUEST).is_valid(instance), path.name


def _resolve_pointer(document: Any, pointer: str) -> Any:
    node = document
    for raw in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_asyncapi_references_resolve_and_name_the_settings_topics() -> None:
    document = yaml.safe_load((DIR / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    refs = _refs(document)
    assert refs
    files = set()
    for ref in refs:
        target, _, pointer = ref.partition("#")
        if target:
            files.add(target)
            _resolve_pointer(orjson.loads((DIR / target).read_bytes()), pointer)
        else:
            _resolve_pointer(document, pointer)
    assert {f.removeprefix("./") for f in files} == set(ALL_SCHEMAS)
    channels = document["channels"].values()
    addresses = {c["address"] for c in channels if "parameters" not in c}
    defaults = Settings.model_construct()
    assert addresses == {
        defaults.in_topic,
        defaults.out_topic,
        defaults.dlq_topic,
        defaults.optout_topic,
    }
    # the lane topics have no default name: their address is a parameter
    lanes = {c["address"] for c in channels if "parameters" in c}
    assert lanes == {"{criticalTopic}", "{bulkTopic}"}
    assert (defaults.in_topic_critical, defaults.in_topic_bulk) == (None, None)


def test_schemas_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert schemas_dir() == DIR
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match=SCHEMAS_DIR_ENV):
        schemas_dir()
    monkeypatch.setenv(SCHEMAS_DIR_ENV, str(DIR))
    assert schemas_dir() == DIR
