"""The JSON Schemas of `schemas/`: found, loaded and compiled once per process.

jsonschema-rs was chosen by measurement (tests/bench/bench_validators.py): ~10x the
valid-event rate of fastjsonschema and ~200x that of jsonschema, and unlike fastjsonschema
it reports every error, not only the first.

Where the directory is: `$PUSHR_RELAY_SCHEMAS_DIR` when set (container images), else
`schemas/` at the root of the source checkout this package lives in.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema_rs
import orjson

from service.contract.masking import mask_numbers_in_text
from service.contract.model import FieldError

SCHEMAS_DIR_ENV: Final = "PUSHR_RELAY_SCHEMAS_DIR"
REQUEST: Final = "sms-request.v1.json"
RESULT: Final = "sms-result.v1.json"
STATUS: Final = "sms-status.v1.json"
DLQ_RECORD: Final = "dlq-record.v1.json"
OPTOUT: Final = "sms-optout.v1.json"
ALL_SCHEMAS: Final = (REQUEST, RESULT, STATUS, DLQ_RECORD, OPTOUT)

MAX_ERRORS: Final = 20  # enough to fix an event; bounded so a 10k-row mistake stays small
_MAX_SEGMENT_CHARS: Final = 64


class SchemaSetupError(RuntimeError):
    """The schema files are missing or broken: a deployment problem, not a bad event."""


def schemas_dir() -> Path:
    override = os.environ.get(SCHEMAS_DIR_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "schemas"
    if not (path / REQUEST).is_file():
        raise SchemaSetupError(
            f"no {REQUEST} in {path}; set {SCHEMAS_DIR_ENV} to the directory of the schemas"
        )
    return path


@cache
def load_schema(name: str) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = orjson.loads((schemas_dir() / name).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SchemaSetupError(f"cannot load schema {name}: {exc}") from exc
    return schema


@cache
def compiled(name: str) -> jsonschema_rs.Validator:
    # Formats stay annotations (the 2020-12 default): date-times are checked by a pattern in
    # the schema, so any validator a producer uses enforces the same rule.
    return jsonschema_rs.validator_for(load_schema(name), validate_formats=False)


def _escape(segment: str | int) -> str:
    text = str(segment).replace("~", "~0").replace("/", "~1")
    if len(text) > _MAX_SEGMENT_CHARS:
        text = text[: _MAX_SEGMENT_CHARS - 1] + "…"
    return text


def json_pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """A JSON pointer with phone-like runs masked (keys come from the producer)."""
    return mask_numbers_in_text("".join(f"/{_escape(p)}" for p in parts))


_TIMESTAMP_NAIVE: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_PATTERN_HINTS: Final = {
    "event_id": "must be printable ASCII without spaces",
    "idempotency_key": "must be printable ASCII without spaces",
    "sender_id": "must be printable ASCII, without leading or trailing space",
}
_JSON_TYPES: Final = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _timestamp_error(path: str, value: Any) -> FieldError:
    if isinstance(value, str) and _TIMESTAMP_NAIVE.fullmatch(value.strip()):
        return FieldError(
            path, "timezone_required", "must carry a UTC offset, e.g. 2025-01-20T14:30:00Z"
        )
    return FieldError(
        path, "invalid_datetime", "must be an RFC 3339 date-time, e.g. 2025-01-20T14:30:00Z"
    )


def _false_schema_text(field: str) -> str:
    if field == "rows":
        return "only allowed with `template`"
    if field in {"message", "recipients"}:
        return "not allowed with `template` (template sends use `rows`)"
    return "not allowed here"


def _translate(error: jsonschema_rs.ValidationError) -> list[FieldError]:
    """Our own code and wording per keyword: stable, and never echoing the value."""
    parts: list[str | int] = list(error.instance_path)
    path = json_pointer(parts)
    field = str(parts[-1]) if parts else ""
    kind = jsonschema_rs.ValidationErrorKind
    match error.kind:
        case kind.Required(prop):
            return [FieldError(json_pointer([*parts, str(prop)]), "required", "is required")]
        case kind.AdditionalProperties(unexpected):
            return [
                FieldError(json_pointer([*parts, name]), "unknown_field", "is not a field of v1")
                for name in unexpected
            ]
        case kind.Type(types):
            wanted = " or ".join(_JSON_TYPES.get(str(t), str(t)) for t in types)
            return [FieldError(path, "type", f"must be {wanted}")]
        case kind.Enum(options):
            allowed = ", ".join("null" if o is None else str(o) for o in options)
            return [FieldError(path, "enum", f"must be one of: {allowed}")]
        case kind.Constant(expected):
            return [FieldError(path, "const", f"must be {orjson.dumps(expected).decode()}")]
        case kind.MinLength(limit):
            return [FieldError(path, "too_short", f"must have at least {limit} characters")]
        case kind.MaxLength(limit):
            return [FieldError(path, "too_long", f"must have at most {limit} characters")]
        case kind.MinItems(limit):
            text = "must not be empty" if limit == 1 else f"must have at least {limit} items"
            return [FieldError(path, "too_few_items", text)]
        case kind.MaxItems(limit):
            return [FieldError(path, "too_many_items", f"must have at most {limit} items")]
        case kind.Minimum(limit):
            return [FieldError(path, "too_small", f"must be at least {limit}")]
        case kind.Maximum(limit):
            return [FieldError(path, "too_large", f"must be at most {limit}")]
        case kind.Pattern():
            if field in {"scheduled_at", "expires_at"}:
                return [_timestamp_error(path, error.instance)]
            hint = _PATTERN_HINTS.get(field)
            return [FieldError(path, "pattern", hint or "does not have the required form")]
        case kind.PropertyNames():
            text = "column names must match [A-Za-z_][A-Za-z0-9_]{0,63}"
            return [FieldError(path, "invalid_name", text)]
        case kind.FalseSchema():
            return [FieldError(path, "not_allowed", _false_schema_text(field))]
        case _:
            return [FieldError(path, "invalid", "does not match the schema")]


def schema_errors(name: str, instance: Any, limit: int = MAX_ERRORS) -> list[FieldError]:
    """Every error of `instance` against schema `name` (up to `limit`), in schema order."""
    errors: list[FieldError] = []
    for error in compiled(name).iter_errors(instance):
        errors.extend(_translate(error))
        if len(errors) >= limit:
            break
    return errors[:limit]


def is_valid(name: str, instance: Any) -> bool:
    return bool(compiled(name).is_valid(instance))
