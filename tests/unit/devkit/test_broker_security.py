"""The secured local broker's material and properties, without Java: what it writes, what
it prints for clients, and that the relay's settings read those prints back exactly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from service.devkit.broker.config import CLUSTER_FILE, NodePorts, plan_cluster, server_properties
from service.devkit.broker.secured import BrokerSecurity, prepare_material
from service.settings import Settings


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("security", ["sasl_ssl", "mtls"])
def test_the_printed_settings_are_the_relays_own(
    security: BrokerSecurity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    material = prepare_material(security, tmp_path)
    for name, value in material.client_env().items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    assert settings.kafka_security() == material.client_security()
    assert settings.kafka_common()["security_protocol"] == material.listener


def test_sasl_ssl_creates_scram_users_at_format_and_keeps_secrets_private(tmp_path: Path) -> None:
    material = prepare_material("sasl_ssl", tmp_path)
    props = material.broker_properties()

    assert material.listener == "SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    jaas = str(props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"])
    assert f'username="broker" password="{material.broker_password}";' in jaas
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert "ssl.client.auth" not in props
    assert material.format_arguments() == [
        "--add-scram",
        f"SCRAM-SHA-512=[name=relay,password={material.client_password}]",
        "--add-scram",
        f"SCRAM-SHA-512=[name=broker,password={material.broker_password}]",
    ]
    assert material.client_password != material.broker_password
    assert material.broker_pem is not None
    assert _mode(material.broker_pem) == 0o600
    assert _mode(material.broker_pem.parent) == 0o700
    assert set(material.secrets()) == {material.client_password, material.broker_password}


def test_mtls_requires_client_certificates(tmp_path: Path) -> None:
    material = prepare_material("mtls", tmp_path)

    assert material.listener == "SSL"
    assert material.broker_properties()["ssl.client.auth"] == "required"
    assert material.format_arguments() == []
    assert material.client_key is not None
    assert _mode(material.client_key) == 0o600
    assert set(material.client_env()) == {
        "PUSHR_RELAY_KAFKA_SECURITY_PROTOCOL",
        "PUSHR_RELAY_KAFKA_SSL_CAFILE",
        "PUSHR_RELAY_KAFKA_SSL_CERTFILE",
        "PUSHR_RELAY_KAFKA_SSL_KEYFILE",
    }


def test_plain_has_no_material(tmp_path: Path) -> None:
    material = prepare_material("plain", tmp_path)

    assert material.listener == "PLAINTEXT"
    assert material.broker_properties() == {}
    assert material.client_env() == {}
    assert material.client_options == {}
    assert not (tmp_path / "security").exists()


def test_a_kept_workdir_keeps_its_material_until_the_mode_changes(tmp_path: Path) -> None:
    first = prepare_material("sasl_ssl", tmp_path)
    assert first.ca_file is not None
    ca = first.ca_file.read_bytes()

    again = prepare_material("sasl_ssl", tmp_path)
    assert again == first
    assert again.ca_file is not None
    assert again.ca_file.read_bytes() == ca

    switched = prepare_material("mtls", tmp_path)
    assert switched.mode == "mtls"
    assert switched.ca_file is not None
    assert switched.ca_file.read_bytes() != ca


def test_the_secured_listener_carries_clients_and_brokers(tmp_path: Path) -> None:
    props = _props(server_properties(1, [NodePorts(9094, 9095)], tmp_path, listener="SASL_SSL"))

    assert props["listeners"] == "SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:9094"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"


def test_data_formatted_for_another_security_is_not_reused(tmp_path: Path) -> None:
    plain = plan_cluster(tmp_path, 1, "4.1.1")
    (tmp_path / "node-1" / "data").mkdir(parents=True)

    assert plan_cluster(tmp_path, 1, "4.1.1", "plain") == plain
    secured = plan_cluster(tmp_path, 1, "4.1.1", "sasl_ssl")

    assert secured[0] != plain[0]
    assert not (tmp_path / "node-1").exists()
    assert '"security": "sasl_ssl"' in (tmp_path / CLUSTER_FILE).read_text()
