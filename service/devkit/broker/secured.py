"""Security material of a local broker: a CA, the broker's certificate, SCRAM users, client
certificates, and the listener properties that put them to use.

`plain` is the unsecured default. `sasl_ssl` serves SASL_SSL with SCRAM-SHA-512 users created
when the log dir is formatted (KIP-900); `mtls` serves SSL and requires a client certificate
signed by the run's CA. Brokers talk to each other over the same secured listener, as the
broker user (SCRAM) or with the broker certificate (mTLS); the controller listener stays
PLAINTEXT on loopback. The material lives in `<workdir>/security/` and is reused by a later
start there while the broker certificate stays valid, so exported settings keep working.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Literal, get_args

from cryptography import x509
from pydantic import SecretStr

from service.devkit.certs import Authority
from service.kafka.security import KafkaClientSecurity, KafkaSecurity

BrokerSecurity = Literal["plain", "sasl_ssl", "mtls"]
SECURITY_MODES: tuple[str, ...] = get_args(BrokerSecurity)
SCRAM_MECHANISM: Final = "SCRAM-SHA-512"
CLIENT_USER = "relay"
BROKER_USER = "broker"
_FOLDER = "security"
_RECORD = "security.json"
# a kept workdir is reused only while its broker certificate has this long left
_MIN_VALIDITY = dt.timedelta(days=1)
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class SecurityMaterial:
    """Files and credentials of a local broker's client listener (none for `plain`)."""

    mode: BrokerSecurity = "plain"
    ca_file: Path | None = None
    broker_pem: Path | None = None  # key and certificate, as Kafka's PEM keystore reads them
    client_cert: Path | None = None
    client_key: Path | None = None
    client_password: str = ""
    broker_password: str = ""

    @property
    def listener(self) -> str:
        """Name (and security protocol) of the listener clients and brokers use."""
        return {"plain": "PLAINTEXT", "sasl_ssl": "SASL_SSL", "mtls": "SSL"}[self.mode]

    def broker_properties(self) -> dict[str, object]:
        """server.properties entries of the secured listener (ports are set elsewhere)."""
        if self.mode == "plain":
            return {}
        props: dict[str, object] = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": self.broker_pem,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": self.ca_file,
            "ssl.endpoint.identification.algorithm": "https",
        }
        if self.mode == "mtls":
            props["ssl.client.auth"] = "required"
            return props
        jaas = f"listener.name.{self.listener.lower()}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"
        props.update(
            {
                "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
                jaas: (
                    f'{_SCRAM_LOGIN} required username="{BROKER_USER}" '
                    f'password="{self.broker_password}";'
                ),
            }
        )
        return props

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create the SCRAM users."""
        if self.mode != "sasl_ssl":
            return []
        users = ((CLIENT_USER, self.client_password), (BROKER_USER, self.broker_password))
        return [
            arg
            for user, password in users
            for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]")
        ]

    def client_security(self) -> KafkaSecurity:
        """The relay's security settings for a client of this listener."""
        if self.mode == "plain":
            return KafkaSecurity()
        if self.mode == "mtls":
            return KafkaSecurity(
                protocol="SSL",
                ssl_cafile=self.ca_file,
                ssl_certfile=self.client_cert,
                ssl_keyfile=self.client_key,
            )
        return KafkaSecurity(
            protocol="SASL_SSL",
            sasl_mechanism=SCRAM_MECHANISM,
            sasl_username=CLIENT_USER,
            sasl_password=SecretStr(self.client_password),
            ssl_cafile=self.ca_file,
        )

    def client_env(self) -> dict[str, str]:
        """`client_security()` as the `PUSHR_RELAY_KAFKA_*` variables that set it."""
        security = self.client_security()
        values = {
            "SECURITY_PROTOCOL": security.protocol,
            "SASL_MECHANISM": security.sasl_mechanism,
            "SASL_USERNAME": security.sasl_username,
            "SASL_PASSWORD": self.client_password,
            "SSL_CAFILE": security.ssl_cafile,
            "SSL_CERTFILE": security.ssl_certfile,
            "SSL_KEYFILE": security.ssl_keyfile,
        }
        if self.mode == "plain":
            return {}
        return {f"PUSHR_RELAY_KAFKA_{k}": str(v) for k, v in values.items() if v}

    @cached_property
    def client_options(self) -> dict[str, Any]:
        """aiokafka keyword arguments, made once by the relay's own security code."""
        return KafkaClientSecurity(self.client_security()).options()

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line."""
        return [s for s in (self.client_password, self.broker_password) if s]


def prepare_material(
    mode: BrokerSecurity, workdir: Path, authority: Authority | None = None
) -> SecurityMaterial:
    """The material of `mode` in `workdir`: reused while valid, else made afresh.

    `authority` signs the certificates (tests keep it to issue more client certificates);
    given, the material is always made afresh.
    """
    if mode == "plain":
        return SecurityMaterial()
    folder = workdir / _FOLDER
    if authority is None:
        kept = _kept_material(mode, folder)
        if kept is not None:
            return kept
    return _new_material(mode, folder, authority or Authority("pushr-relay local Kafka CA"))


def _new_material(mode: BrokerSecurity, folder: Path, authority: Authority) -> SecurityMaterial:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca_file = authority.write_ca(folder / "ca.crt")
    # client use too: the brokers of a cluster connect to each other with this certificate
    broker = authority.issue("pushr-relay local broker", client=True)
    broker_pem = _private_file(folder / "broker.pem")
    broker_pem.write_bytes(broker.key_pem + broker.cert_pem)
    client_cert = client_key = None
    client_password = broker_password = ""
    if mode == "mtls":
        client_cert, client_key = authority.issue(CLIENT_USER, client=True).write(folder, "client")
    else:
        # kept data holds the SCRAM users of its first format: their passwords must stay
        client_password, broker_password = _stored_passwords(folder, mode) or (
            # hex: nothing the SCRAM argument syntax or a shell `export $(...)` treats apart
            secrets.token_hex(16),
            secrets.token_hex(16),
        )
    record = {"mode": mode, "client_password": client_password, "broker_password": broker_password}
    _private_file(folder / _RECORD).write_text(json.dumps(record))
    return SecurityMaterial(
        mode, ca_file, broker_pem, client_cert, client_key, client_password, broker_password
    )


def _kept_material(mode: BrokerSecurity, folder: Path) -> SecurityMaterial | None:
    passwords = _stored_passwords(folder, mode)
    broker_pem = folder / "broker.pem"
    try:
        certificate = x509.load_pem_x509_certificate(broker_pem.read_bytes())
    except (OSError, ValueError):
        return None
    if passwords is None:
        return None
    if certificate.not_valid_after_utc - dt.datetime.now(dt.UTC) < _MIN_VALIDITY:
        return None
    client_cert = client_key = None
    if mode == "mtls":
        client_cert, client_key = folder / "client.crt", folder / "client.key"
        if not (client_cert.is_file() and client_key.is_file()):
            return None
    return SecurityMaterial(
        mode, folder / "ca.crt", broker_pem, client_cert, client_key, *passwords
    )


def _private_file(path: Path) -> Path:
    path.touch(mode=0o600)
    path.chmod(0o600)
    return path


def _stored_passwords(folder: Path, mode: BrokerSecurity) -> tuple[str, str] | None:
    try:
        record = json.loads((folder / _RECORD).read_text())
        if record["mode"] == mode:
            return str(record["client_password"]), str(record["broker_password"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None
