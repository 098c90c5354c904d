"""The overlays' PrometheusRule is generated from alerts.yml, never a second copy of it: the
committed file is exactly what `make k8s-rules` writes now, and both overlays render it."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest
import yaml

from tests.unit.deploy._common import DEPLOY
from tests.unit.deploy.test_k8s import OVERLAYS, one

GENERATED = DEPLOY / "k8s" / "base" / "prometheusrule.yaml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "prometheusrule", DEPLOY / "prometheus" / "prometheusrule.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_rule_is_what_alerts_yml_generates() -> None:
    expected = generator().render(ALERTS.read_text(encoding="utf-8"))
    assert GENERATED.read_text(encoding="utf-8") == expected, (
        "deploy/k8s/base/prometheusrule.yaml is stale: run `make k8s-rules`"
    )


def test_a_change_to_alerts_yml_changes_the_rule() -> None:
    alerts = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    alerts["groups"][0]["rules"][0]["for"] = "7m"
    rendered = yaml.safe_load(generator().render(yaml.safe_dump(alerts)))
    assert rendered["spec"]["groups"][0]["rules"][0]["for"] == "7m"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_carries_the_rules_of_alerts_yml(overlay: str) -> None:
    rule = one(overlay, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["app.kubernetes.io/name"] == "pushr-relay"
    assert rule["metadata"]["namespace"]
    assert set(rule["spec"]) == {"groups"}
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        for entry in group["rules"]:
            assert set(entry) <= {"alert", "record", "expr", "for", "labels", "annotations"}
            assert isinstance(entry["expr"], str)
