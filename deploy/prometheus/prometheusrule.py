"""Print the alert rules of alerts.yml as a Prometheus Operator `PrometheusRule`.

alerts.yml stays the one copy of the rules (promtool checks and unit-tests it, Prometheus
and docker compose load it); the Kubernetes object is generated from it:

    make k8s-rules    # writes deploy/k8s/base/prometheusrule.yaml

and tests/unit/deploy/test_prometheusrule.py fails when the generated file is not what
alerts.yml gives now.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE / "alerts.yml"
HEADER = """\
# GENERATED from deploy/prometheus/alerts.yml by `make k8s-rules`: do not edit; change
# alerts.yml and run the target again (tests/unit/deploy/test_prometheusrule.py checks it).
# Needs the Prometheus Operator CRDs; its ruleSelector must match this object's labels.
"""


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "pushr-relay"},
        "spec": {"groups": alerts["groups"]},
    }


def render(alerts_text: str) -> str:
    rule = prometheus_rule(yaml.safe_load(alerts_text))
    body = yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


if __name__ == "__main__":
    sys.stdout.write(render(ALERTS.read_text(encoding="utf-8")))
