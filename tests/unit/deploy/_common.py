"""Helpers shared by the deployment-artefact tests: paths, settings names, exported metrics."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from prometheus_client import CollectorRegistry

from service.contract import REJECTION_REASONS
from service.observability.metrics import Metrics
from service.settings import Settings
from tests.fixtures.metrics import family_sample_names

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"

# Every SecretStr setting: such values belong in a Secret, never in the ConfigMap.
SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)


@cache
def setting_env_names() -> frozenset[str]:
    """Every environment variable Settings reads: PUSHR_RELAY_<FIELD> and the aliases."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        names.add(f"PUSHR_RELAY_{name.upper()}")
        alias = field.validation_alias
        for choice in getattr(alias, "choices", ()):
            if isinstance(choice, str) and choice.isupper():
                names.add(choice)
    return frozenset(names)


def env_field(env_name: str) -> str:
    """The Settings field an environment variable sets."""
    for name, field in Settings.model_fields.items():
        if env_name == f"PUSHR_RELAY_{name.upper()}":
            return name
        if env_name in getattr(field.validation_alias, "choices", ()):
            return name
    raise KeyError(env_name)


@cache
def exported_series() -> frozenset[str]:
    """Names of every series the relay exports, read from a fresh registry.

    From the families' types, not their samples: a labelled metric whose labels are set at
    run time (consumer_lag by topic and partition) has no sample in a fresh registry.
    """
    registry = CollectorRegistry()
    Metrics(registry, REJECTION_REASONS)
    return frozenset().union(*(family_sample_names(f) for f in registry.collect()))


# A PromQL identifier followed by `{`, `[`, whitespace, `)` or end: the metric names of an
# expression once functions, keywords, label names and strings are taken out.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_LABELS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "atan2"}
)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads (a small lexer, enough for these files)."""
    text = _STRING.sub('""', expr)
    text = _GROUPING.sub(" ", text)
    text = _LABELS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = re.sub(r"\$\w+|\$\{[^}]*\}", "1", text)  # Grafana variables
    found = {m.group(1) for m in _IDENT.finditer(text)}
    return {name for name in found if name.lower() not in _KEYWORDS}
