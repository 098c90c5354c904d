"""Kafka security settings: the options every client gets, and the one-line refusal of
combinations and files that cannot work, before any connection (no broker here)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.cli import main, settings_problems
from service.devkit.certs import Authority
from service.settings import Settings

ENV = "PUSHR_RELAY_KAFKA_"
KEY_PASSWORD = "key-password-for-tests"


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    ca = Authority()
    cert, key = ca.issue("client", client=True).write(tmp_path, "client")
    locked_cert, locked_key = ca.issue(
        "locked", client=True, key_password=KEY_PASSWORD.encode()
    ).write(tmp_path, "locked")
    other_cert, _other_key = ca.issue("other", client=True).write(tmp_path, "other")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("this is not PEM\n")
    return {
        "ca": ca.write_ca(tmp_path / "ca.crt"),
        "cert": cert,
        "key": key,
        "locked_cert": locked_cert,
        "locked_key": locked_key,
        "other_cert": other_cert,
        "not_pem": not_pem,
    }


def problem(**values: Any) -> str:
    """The one line `Settings` refuses `values` with."""
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate(values)
    line = settings_problems(caught.value)
    assert "\n" not in line
    return line


def test_nothing_changes_without_security_settings() -> None:
    assert Settings().kafka_common() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "client_id": "pushr-relay",
    }


def test_sasl_ssl_with_scram_gives_every_client_the_same_context(
    tls_files: dict[str, Path],
) -> None:
    settings = Settings.model_validate(
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "relay",
            "kafka_sasl_password": "scram-password",
            "kafka_ssl_cafile": tls_files["ca"],
        }
    )

    first, second = settings.kafka_common(), settings.kafka_common()

    assert first["security_protocol"] == "SASL_SSL"
    assert first["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (first["sasl_plain_username"], first["sasl_plain_password"]) == (
        "relay",
        "scram-password",
    )
    context = first["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context is second["ssl_context"]  # built once
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert settings.kafka_security().secrets() == ["scram-password"]


def test_mtls_loads_an_encrypted_key_with_its_password(tls_files: dict[str, Path]) -> None:
    settings = Settings.model_validate(
        {
            "kafka_security_protocol": "SSL",
            "kafka_ssl_cafile": tls_files["ca"],
            "kafka_ssl_certfile": tls_files["locked_cert"],
            "kafka_ssl_keyfile": tls_files["locked_key"],
            "kafka_ssl_key_password": KEY_PASSWORD,
        }
    )

    options = settings.kafka_common()

    assert options["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in options
    assert settings.kafka_security().secrets() == [KEY_PASSWORD]


def test_hostname_verification_is_on_unless_turned_off(tls_files: dict[str, Path]) -> None:
    values = {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": tls_files["ca"]}
    unsafe = Settings.model_validate({**values, "kafka_ssl_check_hostname": False})

    context = unsafe.kafka_common()["ssl_context"]

    assert not context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED  # the chain is still verified


def test_oauthbearer_gets_a_token_provider() -> None:
    settings = Settings.model_validate(
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "OAUTHBEARER",
            "kafka_sasl_oauth_token_url": "https://idp.example/oauth2/token",
            "kafka_sasl_oauth_client_id": "relay",
            "kafka_sasl_oauth_client_secret": "client-secret",
        }
    )

    options = settings.kafka_common()

    assert (
        options["sasl_oauth_token_provider"] is settings.kafka_common()["sasl_oauth_token_provider"]
    )
    assert "sasl_plain_password" not in options
    assert settings.kafka_security().secrets() == ["client-secret"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"kafka_sasl_mechanism": "PLAIN"},
            f"{ENV}SASL_MECHANISM=PLAIN needs {ENV}SECURITY_PROTOCOL=SASL_SSL (or "
            "SASL_PLAINTEXT), not PLAINTEXT",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL"},
            f"{ENV}SECURITY_PROTOCOL=SASL_SSL needs {ENV}SASL_MECHANISM",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-256"},
            f"{ENV}SASL_MECHANISM=SCRAM-SHA-256 needs {ENV}SASL_USERNAME and {ENV}SASL_PASSWORD",
        ),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "OAUTHBEARER"},
            f"{ENV}SASL_MECHANISM=OAUTHBEARER needs {ENV}SASL_OAUTH_TOKEN_URL, "
            f"{ENV}SASL_OAUTH_CLIENT_ID and {ENV}SASL_OAUTH_CLIENT_SECRET",
        ),
        (
            {"kafka_sasl_username": "relay", "kafka_sasl_password": "p4ssw0rd-p4ssw0rd"},
            f"{ENV}SASL_USERNAME and {ENV}SASL_PASSWORD set, but only used with a PLAIN or "
            "SCRAM mechanism",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "/k.pem"},
            f"{ENV}SSL_KEYFILE is set without {ENV}SSL_CERTFILE",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused_in_one_line(
    values: dict[str, Any], expected: str
) -> None:
    line = problem(**values)

    assert line == expected
    assert "p4ssw0rd" not in line


def test_tls_files_without_tls_are_refused(tls_files: dict[str, Path]) -> None:
    line = problem(kafka_ssl_cafile=tls_files["ca"])

    assert line == f"{ENV}SSL_CAFILE set, but only used with TLS (protocol PLAINTEXT)"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"kafka_ssl_cafile": "missing"}, f"{ENV}SSL_CAFILE: cannot read {{missing}}: No such"),
        ({"kafka_ssl_cafile": "not_pem"}, f"{ENV}SSL_CAFILE {{not_pem}} holds no PEM certificate"),
        (
            {"kafka_ssl_certfile": "not_pem", "kafka_ssl_keyfile": "key"},
            f"{ENV}SSL_CERTFILE {{not_pem}} holds no PEM certificate",
        ),
        (
            {"kafka_ssl_certfile": "cert", "kafka_ssl_keyfile": "not_pem"},
            f"{ENV}SSL_KEYFILE {{not_pem}} holds no PEM private key",
        ),
        (
            {"kafka_ssl_certfile": "cert"},
            f"{ENV}SSL_CERTFILE {{cert}} holds no PEM private key; set {ENV}SSL_KEYFILE",
        ),
        (
            {"kafka_ssl_certfile": "locked_cert", "kafka_ssl_keyfile": "locked_key"},
            f"the key in {{locked_key}} is encrypted: set {ENV}SSL_KEY_PASSWORD",
        ),
        (
            {
                "kafka_ssl_certfile": "locked_cert",
                "kafka_ssl_keyfile": "locked_key",
                "kafka_ssl_key_password": "not-the-key-password",
            },
            f"{ENV}SSL_KEY_PASSWORD does not decrypt the key in {{locked_key}}",
        ),
        (
            {"kafka_ssl_certfile": "other_cert", "kafka_ssl_keyfile": "key"},
            f"{ENV}SSL_KEYFILE {{key}} is not the key of {ENV}SSL_CERTFILE",
        ),
    ],
)
def test_tls_files_that_cannot_be_used_are_refused_in_one_line(
    tls_files: dict[str, Path], tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    paths = {**tls_files, "missing": tmp_path / "missing.pem"}
    values: dict[str, Any] = {name: paths[key] for name, key in files.items() if key in paths}
    values |= {name: key for name, key in files.items() if key not in paths}

    line = problem(kafka_security_protocol="SSL", **values)

    assert line.startswith(expected.format(**{k: str(v) for k, v in paths.items()}))
    assert "not-the-key-password" not in line


def test_every_command_reports_bad_settings_in_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV}SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv(f"{ENV}SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv(f"{ENV}SASL_PASSWORD", "a-password-nobody-may-see")

    for command in (["run"], ["produce", "/dev/null"], ["validate", "/dev/null"]):
        assert main(command) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (
            f"pushr-relay: configuration error: {ENV}SASL_MECHANISM=SCRAM-SHA-512 needs "
            f"{ENV}SASL_USERNAME\n"
        )


def test_a_bad_value_is_named_by_its_variable_and_not_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV}SECURITY_PROTOCOL", "TLS-with-secret-inside")

    assert main(["run"]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"pushr-relay: configuration error: {ENV}SECURITY_PROTOCOL: Input ")
    assert "secret-inside" not in err
    assert len(err.splitlines()) == 1
