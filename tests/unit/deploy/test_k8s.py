"""The kustomize overlays render, validate against Kubernetes' schemas and are safe to run.

Core kinds are validated (strict: no unknown fields) with `kubernetes-validate`. No JSON
schema for the CRDs (ServiceMonitor, KEDA ScaledObject) is available offline, so their
required structure is checked explicitly below (`test_servicemonitor_*`, `test_scaledobject_*`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.devkit.certs import Authority
from service.settings import Settings
from tests.fixtures.tools import kustomize_command
from tests.unit.deploy._common import DEPLOY, SECRET_FIELDS, env_field, setting_env_names

K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes minor we claim to support, and the newest the package knows.
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
}
TLS_MOUNT = "/etc/pushr-relay/tls"

Obj = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Obj, ...]:
    out = subprocess.run(
        [*kustomize_command(), str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def objects(overlay: str, kind: str) -> list[Obj]:
    return [o for o in render(overlay) if o["kind"] == kind]


def one(overlay: str, kind: str, name: str = "pushr-relay") -> Obj:
    found = [o for o in objects(overlay, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind}/{name}, found {len(found)}"
    return found[0]


def config(overlay: str) -> dict[str, str]:
    (cm,) = [o for o in objects(overlay, "ConfigMap") if o["metadata"]["name"].startswith("pushr")]
    data: dict[str, str] = cm["data"]
    return data


def relay_container(overlay: str) -> Obj:
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    relays: list[Obj] = [c for c in pod["containers"] if c["name"] == "relay"]
    (container,) = relays
    return container


def all_containers(overlay: str) -> Iterator[tuple[str, Obj, Obj]]:
    for deployment in objects(overlay, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            yield deployment["metadata"]["name"], pod, container


def settings_from(overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The overlay's settings as the relay reads them, with every file the ConfigMap names in
    the mounted TLS Secret made for the test (Settings opens them)."""
    authority = Authority()
    for name in setting_env_names():
        monkeypatch.delenv(name, raising=False)
    env = dict(config(overlay))
    if "PUSHR_RELAY_KAFKA_SASL_MECHANISM" in env:
        # what the Secret `pushr-relay-secrets` adds beside the ConfigMap
        env |= {"PUSHR_RELAY_KAFKA_SASL_USERNAME": "relay", "PUSHR_RELAY_KAFKA_SASL_PASSWORD": "x"}
    for key, value in env.items():
        mounted = value.startswith(f"{TLS_MOUNT}/")
        monkeypatch.setenv(
            key, str(stand_in_file(authority, tmp_path, key, value)) if mounted else value
        )
    return Settings()


def stand_in_file(authority: Authority, tmp_path: Path, setting: str, mounted: str) -> Path:
    """A real PEM file of the kind `setting` names (CA, certificate or key)."""
    name = Path(mounted).name
    if setting.endswith(("CAFILE", "CA_FILE")):
        return authority.write_ca(tmp_path / name)
    cert, key = authority.issue("pushr-relay", client=True).write(tmp_path, Path(name).stem)
    return key if setting.endswith(("KEYFILE", "KEY_FILE")) else cert


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_validate_strictly(overlay: str, version: str) -> None:
    for obj in render(overlay):
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            continue
        kind_name = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{overlay} {kind_name} on {version}: {path}: {exc.message}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_expected_objects(overlay: str) -> None:
    kinds = {o["kind"] for o in render(overlay)}
    assert {
        "Deployment",
        "ConfigMap",
        "Service",
        "ServiceMonitor",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    namespaces = {o["metadata"].get("namespace") for o in render(overlay)}
    assert len(namespaces) == 1
    assert None not in namespaces


# --- CRDs: structure checked by hand (no offline JSON schema) ------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servicemonitor_selects_the_metrics_service(overlay: str) -> None:
    monitor = one(overlay, "ServiceMonitor")
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    selector = spec["selector"]["matchLabels"]
    services = [
        s
        for s in objects(overlay, "Service")
        if selector.items() <= s["metadata"].get("labels", {}).items()
    ]
    assert [s["metadata"]["name"] for s in services] == ["pushr-relay-metrics"]
    port_names = {p["name"] for p in services[0]["spec"]["ports"]}
    assert spec["endpoints"], "a ServiceMonitor without endpoints scrapes nothing"
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["port"] in port_names
        assert endpoint.get("path", "/metrics") == "/metrics"
        assert endpoint["interval"].endswith("s")


def test_scaledobject_scales_the_relay_on_kafka_lag() -> None:
    scaled = one("prod", "ScaledObject")
    spec = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "pushr-relay"}
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["fallback"]["replicas"] >= spec["minReplicaCount"]
    assert spec["triggers"], "a ScaledObject needs at least one trigger"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata is strings"
    settings_env = config("prod")
    assert meta["consumerGroup"] == settings_env["PUSHR_RELAY_GROUP_ID"]
    assert meta["topic"] == settings_env["PUSHR_RELAY_IN_TOPIC"]
    assert meta["bootstrapServers"] == settings_env["PUSHR_RELAY_KAFKA_BOOTSTRAP_SERVERS"]
    assert int(meta["lagThreshold"]) > 0
    deployment = one("prod", "Deployment")
    assert deployment["spec"]["replicas"] == spec["minReplicaCount"]


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configmap_names_only_real_settings(
    overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    known = setting_env_names()
    unknown = sorted(set(config(overlay)) - known)
    # pydantic-settings ignores unknown PUSHR_RELAY_* variables silently: a typo is lost.
    assert not unknown, f"not settings of service/settings.py: {unknown}"
    secrets = sorted(k for k in config(overlay) if env_field(k) in SECRET_FIELDS)
    assert not secrets, f"secrets belong in the Secret, not the ConfigMap: {secrets}"
    settings_from(overlay, monkeypatch, tmp_path)  # and every value parses


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_and_probes_match_settings(
    overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_from(overlay, monkeypatch, tmp_path)
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace_seconds
    container = relay_container(overlay)
    (port,) = container["ports"]
    assert port["containerPort"] == settings.http_port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])
    envs = container["envFrom"]
    assert any(
        e.get("configMapRef", {}).get("name", "").startswith("pushr-relay-config") for e in envs
    )
    assert {"secretRef": {"name": "pushr-relay-secrets"}} in envs


def test_dev_is_one_replica_on_the_memory_ledger_and_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_from("dev", monkeypatch, tmp_path)
    assert settings.ledger_backend == "memory"
    deployment = one("dev", "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two at once
    assert not objects("dev", "ScaledObject"), "a memory ledger must not be autoscaled"
    assert settings.pushr_base_url == "http://pushr-sandbox:6700/api/client"
    one("dev", "Service", "pushr-sandbox")
    secret = one("dev", "Secret", "pushr-relay-secrets")
    # The example Secret carries the sandbox's published demo keys only.
    assert set(secret["stringData"].values()) <= {"pk_demo_pushr_relay", "sk_demo_pushr_relay"}
    # and a dev-only dead-letter key that the relay accepts
    keys = one("dev", "Secret", "pushr-relay-dlq-keys")["stringData"]
    assert set(keys) == {"PUSHR_RELAY_DLQ_KEYS"}
    for key, value in keys.items():
        monkeypatch.setenv(key, value)
    assert Settings().dlq_sealing_keys() is not None


def test_prod_is_redis_backed_bigger_and_has_no_secret_in_git(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_from("prod", monkeypatch, tmp_path)
    assert settings.ledger_backend == "redis"
    assert settings.redis_url
    assert settings.pushr_base_url.startswith("https://")
    assert not objects("prod", "Secret")
    assert (
        one("prod", "Deployment")["spec"]["replicas"] > one("dev", "Deployment")["spec"]["replicas"]
    )

    def memory(overlay: str) -> int:
        text = relay_container(overlay)["resources"]["requests"]["memory"]
        assert text.endswith("Mi"), text
        return int(text.removesuffix("Mi"))

    assert memory("prod") > memory("dev")
    assert not [o for o in render("prod") if "sandbox" in o["metadata"]["name"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pdb_allows_a_drain(overlay: str) -> None:
    pdb = one(overlay, "PodDisruptionBudget")
    assert pdb["spec"].get("maxUnavailable", 0) >= 1
    labels = one(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


# --- security --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down(overlay: str) -> None:
    for name, pod, container in all_containers(overlay):
        where = f"{overlay} {name}/{container['name']}"
        ctx = container["securityContext"]
        pod_ctx = pod.get("securityContext", {})
        assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, where
        assert ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 10001, where
        assert ctx["readOnlyRootFilesystem"] is True, where
        assert ctx["allowPrivilegeEscalation"] is False, where
        assert ctx.get("privileged", False) is False, where
        assert ctx["capabilities"]["drop"] == ["ALL"], where
        assert not ctx["capabilities"].get("add"), where
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile"))
        assert seccomp == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        assert not pod.get("hostNetwork"), where
        assert not pod.get("hostPID"), where
        # A read-only root needs a writable /tmp.
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]], where
        resources = container["resources"]
        assert resources["requests"]["cpu"], where
        assert resources["requests"]["memory"], where
        assert resources["limits"]["memory"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy(overlay: str) -> None:
    policy = one(overlay, "NetworkPolicy")
    spec = policy["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    labels = one(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    (ingress,) = spec["ingress"]
    assert [p["port"] for p in ingress["ports"]] == ["metrics"]
    egress_ports = {
        (p["port"], p.get("protocol", "TCP")) for r in spec["egress"] for p in r["ports"]
    }
    # Kafka plain / SASL_SSL / mTLS, Redis plain / TLS / Sentinel, DNS, Push.R; nothing more
    expected = {(53, "UDP"), (53, "TCP"), (9092, "TCP"), (9093, "TCP"), (9094, "TCP"),
                (6379, "TCP"), (6380, "TCP"), (26379, "TCP"), (443, "TCP")}  # fmt: skip
    if overlay == "dev":
        expected.add((6700, "TCP"))
    assert egress_ports == expected


# --- secrets and certificates -------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_certificates_come_from_a_read_only_secret_mount(overlay: str) -> None:
    container = relay_container(overlay)
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == TLS_MOUNT]
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mount["name"]]["secret"]["secretName"] == "pushr-relay-tls"
    # every file setting points into the mount
    files = {k: v for k, v in config(overlay).items() if v.startswith("/")}
    assert all(v.startswith(f"{TLS_MOUNT}/") for v in files.values()), files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_list_jwt_file_comes_from_an_optional_read_only_secret(overlay: str) -> None:
    # the path the README gives PUSHR_RELAY_PUSHR_JWT_FILE
    documented = Path("/var/run/secrets/pushr/jwt")
    assert f"PUSHR_RELAY_PUSHR_JWT_FILE={documented}" in (DEPLOY.parent / "README.md").read_text()
    container = relay_container(overlay)
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(documented.parent)]
    assert mount["readOnly"] is True
    secret = {v["name"]: v for v in pod["volumes"]}[mount["name"]]["secret"]
    assert (secret["secretName"], secret["optional"]) == ("pushr-relay-jwt", True)


def test_prod_connects_to_kafka_and_redis_over_tls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = settings_from("prod", monkeypatch, tmp_path)
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.redis_url is not None
    assert settings.redis_url.startswith("rediss://")
    assert settings.redis_ca_file is not None


def test_keda_reads_the_lag_with_the_relays_credentials() -> None:
    (trigger,) = one("prod", "ScaledObject")["spec"]["triggers"]
    auth = one("prod", "TriggerAuthentication", trigger["authenticationRef"]["name"])
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"username", "password", "ca"}
    known = setting_env_names()
    for parameter in ("username", "password"):
        assert refs[parameter]["name"] == "pushr-relay-secrets"
        assert refs[parameter]["key"] in known
        assert env_field(refs[parameter]["key"]).startswith("kafka_sasl_")
    cafile = config("prod")["PUSHR_RELAY_KAFKA_SSL_CAFILE"]
    assert refs["ca"] == {"parameter": "ca", "name": "pushr-relay-tls", "key": Path(cafile).name}
    meta = trigger["metadata"]
    mechanism = config("prod")["PUSHR_RELAY_KAFKA_SASL_MECHANISM"]
    assert meta["sasl"] == mechanism.lower().replace("-", "_").replace("sha_", "sha")
    assert meta["tls"] == "enable"
