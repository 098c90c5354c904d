"""Alert rules: promtool checks and unit-tests them; they read only exported metrics and
every alert has a summary, a description and a runbook that exists in README.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from service.contract import REJECTION_REASONS
from service.observability.metrics import Metrics
from tests.unit.deploy._common import DEPLOY, exported_series, metric_names
from tests.unit.deploy._promtool import run_promtool

PROMETHEUS = DEPLOY / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERT_TESTS = PROMETHEUS / "alerts.test.yml"
README = DEPLOY.parent / "README.md"
REQUIRED = {
    "PushrRelayCredentialsRejected",
    "PushrRelayInsufficientBalance",
    "PushrRelayBreakerOpen",
    "PushrRelayDeadLetterRate",
    "PushrRelayConsumerLagGrowing",
    "PushrRelayNoProgress",
    "PushrRelayUnknownOutcomes",
    "PushrRelayStatusListUnauthorized",
}


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_promtool(*args, cwd=PROMETHEUS)


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests() -> None:
    result = promtool("test", "rules", ALERT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config() -> None:
    # --syntax-only: the rule file path is the container's, not this checkout's.
    result = promtool("check", "config", "--syntax-only", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    names = {rule["alert"] for rule in rules()}
    assert names == tested
    assert names == firing, "each alert needs a case where it fires"


def test_required_alerts_exist() -> None:
    assert {rule["alert"] for rule in rules()} >= REQUIRED


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_alert_reads_only_exported_metrics(rule: dict[str, Any]) -> None:
    names = metric_names(rule["expr"])
    assert names, rule["expr"]
    assert names <= exported_series(), sorted(names - exported_series())


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_alert_annotations_and_runbook(rule: dict[str, Any]) -> None:
    annotations = rule["annotations"]
    assert {"summary", "description", "runbook"} <= set(annotations)
    assert rule["labels"]["severity"] in {"critical", "warning"}
    path, _, anchor = annotations["runbook"].partition("#")
    assert path == "README.md"
    assert anchor == rule["alert"].lower()
    headings = re.findall(r"^#+ +`?(\w+)`?\s*$", README.read_text(encoding="utf-8"), re.M)
    assert rule["alert"] in headings, f"no runbook heading for {rule['alert']} in README.md"


def test_prometheus_config_loads_the_rules() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/alerts.yml"]
    (relay,) = [job for job in config["scrape_configs"] if job["job_name"] == "pushr-relay"]
    assert relay["static_configs"][0]["targets"] == ["relay:9100"]


def test_operations_documents_every_metric() -> None:
    text = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(pushr_relay_\w+)` \|", text, re.M))
    suffix = {"counter": "_total", "info": "_info"}
    registry = CollectorRegistry()
    Metrics(registry, REJECTION_REASONS)
    exported = {f.name + suffix.get(f.type, "") for f in registry.collect()}
    missing = sorted(exported - documented)
    assert not missing, f"metrics not in the README table: {missing}"
    stale = sorted(documented - exported)
    assert not stale, f"README.md documents metrics that do not exist: {stale}"
