"""docker-compose.yml (no Docker engine here): it parses, has the expected services, names
only real settings, mounts files that exist and agrees with the Kubernetes base."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.unit.deploy._common import DEPLOY, ROOT, setting_env_names

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
BASE = yaml.safe_load((DEPLOY / "k8s" / "base" / "kustomization.yaml").read_text("utf-8"))
# ${VAR:-default} -> default, as compose interpolates with VAR unset.
INTERPOLATION = re.compile(r"\$\{[A-Z0-9_]+:-([^}]*)\}")


def relay_env() -> dict[str, str]:
    env = SERVICES["relay"]["environment"]
    return {key: INTERPOLATION.sub(r"\1", str(value)) for key, value in env.items()}


def base_config() -> dict[str, str]:
    (generator,) = BASE["configMapGenerator"]
    return dict(literal.split("=", 1) for literal in generator["literals"])


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", text)
    assert match, text
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_services() -> None:
    assert set(SERVICES) >= {"kafka", "redis", "sandbox", "relay", "prometheus", "grafana"}
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    kafka_env = SERVICES["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert SERVICES["sandbox"]["build"]["target"] == "sandbox"
    assert SERVICES["relay"]["build"]["target"] == "runtime"


def test_dockerfile_has_the_targets() -> None:
    stages = re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert {"sandbox", "runtime"} <= set(stages)
    assert stages[-1] == "runtime", "a plain `docker build .` must build the production image"


def test_relay_env_names_only_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = relay_env()
    unknown = sorted(set(env) - setting_env_names())
    assert not unknown, f"not settings of service/settings.py: {unknown}"
    for name in setting_env_names():
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.ledger_backend == "redis"
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.pushr_base_url == "http://sandbox:6700/api/client"
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert seconds(SERVICES["relay"]["stop_grace_period"]) > settings.shutdown_grace_seconds
    assert f"{settings.http_port}:{settings.http_port}" in SERVICES["relay"]["ports"]


def test_consistent_with_the_kubernetes_base() -> None:
    env, base = relay_env(), base_config()
    for key in (
        "PUSHR_RELAY_IN_TOPIC",
        "PUSHR_RELAY_OUT_TOPIC",
        "PUSHR_RELAY_DLQ_TOPIC",
        "PUSHR_RELAY_GROUP_ID",
        "PUSHR_RELAY_CLIENT_ID",
        "PUSHR_RELAY_HTTP_PORT",
        "PUSHR_RELAY_SHUTDOWN_GRACE_SECONDS",
        "PUSHR_RELAY_LEDGER_BACKEND",
    ):
        assert env[key] == base[key], key
    init = " ".join(SERVICES["kafka-init"]["command"])
    for key in ("PUSHR_RELAY_IN_TOPIC", "PUSHR_RELAY_OUT_TOPIC", "PUSHR_RELAY_DLQ_TOPIC"):
        assert env[key] in re.split(r"[\s;]+", init), f"kafka-init does not create {env[key]}"


def test_hardened_like_the_pods() -> None:
    for name in ("relay", "sandbox"):
        service = SERVICES[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "/tmp" in service["tmpfs"], name


@pytest.mark.parametrize("name", ["prometheus", "grafana"])
def test_mounted_files_exist(name: str) -> None:
    volumes = SERVICES[name]["volumes"]
    assert volumes
    for volume in volumes:
        source = volume.split(":", 1)[0]
        assert source.startswith("./"), volume
        assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_prometheus_scrapes_the_relay_and_loads_the_alerts() -> None:
    mounts = dict(v.split(":")[:2] for v in SERVICES["prometheus"]["volumes"])
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    assert set(config["rule_files"]) <= set(mounts.values())
    targets = [
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    ]
    port = relay_env()["PUSHR_RELAY_HTTP_PORT"]
    assert f"relay:{port}" in targets


def test_grafana_provisions_the_dashboard() -> None:
    mounts = dict(v.split(":")[:2] for v in SERVICES["grafana"]["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider_file = DEPLOY / "grafana/provisioning/dashboards/pushr-relay.yml"
    (provider,) = yaml.safe_load(provider_file.read_text("utf-8"))["providers"]
    dashboard_mount = mounts["./deploy/grafana/pushr-relay.json"]
    assert dashboard_mount.startswith(provider["options"]["path"] + "/")
    datasources_file = DEPLOY / "grafana/provisioning/datasources/prometheus.yml"
    (datasource,) = yaml.safe_load(datasources_file.read_text("utf-8"))["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
