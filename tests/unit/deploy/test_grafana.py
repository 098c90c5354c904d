"""The Grafana dashboard: valid JSON, every PromQL expression parses (promtool) and reads
only metrics the relay exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy._common import DEPLOY, exported_series, metric_names
from tests.unit.deploy._promtool import check_rules

DASHBOARD_PATH = DEPLOY / "grafana" / "pushr-relay.json"
DASHBOARD: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))
# Grafana's range variables, replaced by a duration for promtool.
GRAFANA_RANGES = re.compile(r"\$__(?:rate_interval|interval|range)\b")


def panels() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in DASHBOARD["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def exprs() -> dict[str, str]:
    found: dict[str, str] = {}
    for panel in panels():
        for target in panel.get("targets", []):
            found[f"panel{panel['id']}_{target['refId']}"] = target["expr"]
    return found


def for_promtool(expr: str) -> str:
    return GRAFANA_RANGES.sub("5m", expr)


def test_dashboard_shape() -> None:
    assert DASHBOARD["uid"] == "pushr-relay"
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    names = {v["name"] for v in DASHBOARD["templating"]["list"]}
    assert {"datasource", "namespace", "pod"} <= names


def test_every_expression_parses(tmp_path: Path) -> None:
    result = check_rules({k: for_promtool(v) for k, v in exprs().items()}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs())} rules found" in result.stdout


def test_expressions_name_only_exported_metrics() -> None:
    exported = exported_series()
    for key, expr in exprs().items():
        names = metric_names(expr)
        assert names, f"{key}: no metric in {expr!r}"
        assert names <= exported, f"{key}: not exported: {sorted(names - exported)}"


def test_variable_queries_name_exported_metrics() -> None:
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"]
        match = re.fullmatch(r"label_values\((\w+)(?:\{[^}]*\})?, *\w+\)", query)
        assert match, query
        assert match.group(1) in exported_series()


def test_covers_the_operations_views() -> None:
    text = "\n".join(exprs().values())
    for metric in (
        "pushr_relay_events_consumed_total",
        "pushr_relay_events_accepted_total",
        "pushr_relay_recipients_accepted_total",
        "pushr_relay_results_published_total",
        "pushr_relay_events_rejected_total",
        "pushr_relay_provider_retries_total",
        "pushr_relay_breaker_state",
        "pushr_relay_consumer_lag",
        "pushr_relay_events_in_flight",
        "pushr_relay_events_dead_lettered_total",
        "pushr_relay_sms_units_total",
        "pushr_relay_sms_cost_ghs_total",
        "pushr_relay_unknown_outcomes_total",
        "pushr_relay_sending_paused",
    ):
        assert metric in text, metric
    assert "sum by (reason) (rate(pushr_relay_events_rejected_total" in text
    for quantile in ("0.5", "0.99"):
        assert (
            f"histogram_quantile({quantile}, sum by (le, endpoint) "
            "(rate(pushr_relay_provider_request_duration_seconds_bucket"
        ) in text


def test_provisioning_points_at_the_dashboard() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "pushr-relay.yml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
