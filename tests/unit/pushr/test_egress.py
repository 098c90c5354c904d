"""How the relay reaches Push.R: the TLS files (checked once, one clear line for any that
cannot be used), the proxy (explicit, or from the environment when trusted) and what of it
may be logged."""

from __future__ import annotations

import io
import ssl
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr, ValidationError

from service.app import configured_secrets
from service.cli import main, settings_problems
from service.configuration import ConfigurationError
from service.contract.masking import REDACTED
from service.observability.logging import configure_logging
from service.pushr.egress import (
    egress_secrets,
    environment_proxy,
    failure_detail,
    load_tls,
    proxy_url,
    shown_proxy,
    tls_files,
)
from service.pushr.transport import build_http_client
from service.settings import Settings
from tests.fixtures.tls import KEY_PASSWORD, TlsMaterial

ENV = "PUSHR_RELAY_"
HTTPS = "https://pushr.example/api/client"


def settings(**values: Any) -> Settings:
    return Settings.model_validate({"pushr_base_url": HTTPS, **values})


def problem(**values: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        settings(**values)
    return settings_problems(refused.value)


def context(**values: Any) -> ssl.SSLContext | None:
    return load_tls(tls_files(settings(**values)), httpx.create_ssl_context)


# --- TLS files ------------------------------------------------------------------------------


def test_nothing_set_keeps_the_transports_defaults() -> None:
    assert context() is None
    assert proxy_url(settings(), {"HTTPS_PROXY": "http://proxy:3128"}) is None


def test_the_ca_file_is_added_to_the_default_trust(tls: TlsMaterial) -> None:
    default = httpx.create_ssl_context().cert_store_stats()["x509_ca"]
    loaded = context(http_ca_file=tls.ca_file)
    assert loaded is not None
    subjects = [str(ca["subject"]) for ca in loaded.get_ca_certs()]
    assert str(((("commonName", "pushr-relay local CA"),),)) in subjects
    assert loaded.cert_store_stats()["x509_ca"] == default + 1  # the public CAs stay
    assert loaded.verify_mode is ssl.CERT_REQUIRED
    assert loaded.check_hostname


@pytest.mark.parametrize("key", ["plain", "encrypted"])
def test_a_client_certificate_loads(tls: TlsMaterial, key: str) -> None:
    values: dict[str, Any] = {"http_client_cert_file": tls.client_cert}
    if key == "plain":
        values["http_client_key_file"] = tls.client_key
    else:
        values["http_client_key_file"] = tls.encrypted_client_key
        values["http_client_key_password"] = SecretStr(KEY_PASSWORD)
    assert context(**values) is not None


def test_a_certificate_file_holding_its_key_needs_no_key_file(
    tls: TlsMaterial, tmp_path: Path
) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(tls.client_cert.read_bytes() + tls.client_key.read_bytes())
    assert context(http_client_cert_file=both) is not None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"http_ca_file": "missing"}, "{ENV}HTTP_CA_FILE: cannot read {missing}: No such file"),
        ({"http_ca_file": "key"}, "{ENV}HTTP_CA_FILE {key} holds no PEM certificate"),
        ({"http_ca_file": "garbled"}, "{ENV}HTTP_CA_FILE {garbled} holds no usable certificate"),
        (
            {"http_client_cert_file": "cert"},
            "{ENV}HTTP_CLIENT_CERT_FILE {cert} holds no PEM private key; "
            "set {ENV}HTTP_CLIENT_KEY_FILE",
        ),
        (
            {"http_client_cert_file": "cert", "http_client_key_file": "cert"},
            "{ENV}HTTP_CLIENT_KEY_FILE {cert} holds no PEM private key",
        ),
        (
            {"http_client_cert_file": "cert", "http_client_key_file": "other_key"},
            "{ENV}HTTP_CLIENT_KEY_FILE {other_key} is not the key of the client certificate",
        ),
        (
            {"http_client_cert_file": "cert", "http_client_key_file": "encrypted"},
            "the key in {encrypted} is encrypted: set {ENV}HTTP_CLIENT_KEY_PASSWORD",
        ),
        (
            {
                "http_client_cert_file": "cert",
                "http_client_key_file": "encrypted",
                "http_client_key_password": "not-the-key-password",
            },
            "{ENV}HTTP_CLIENT_KEY_PASSWORD does not decrypt the key in {encrypted}",
        ),
    ],
)
def test_a_file_that_cannot_be_used_fails_in_one_line(
    tls: TlsMaterial, tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    garbled = tmp_path / "garbled.pem"
    garbled.write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    )
    paths = {
        "missing": tmp_path / "missing.pem",
        "key": tls.client_key,
        "garbled": garbled,
        "cert": tls.client_cert,
        "other_key": tls.other_client_key,
        "encrypted": tls.encrypted_client_key,
    }
    values: dict[str, Any] = {
        name: SecretStr(key) if name.endswith("password") else paths[key]
        for name, key in files.items()
    }

    with pytest.raises(ConfigurationError) as refused:
        context(**values)

    message = str(refused.value)
    assert message == expected.format(ENV=ENV, **paths) or message.startswith(
        expected.format(ENV=ENV, **paths)
    )
    assert "\n" not in message
    assert "not-the-key-password" not in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"http_client_key_file": "/k.pem"},
            f"{ENV}HTTP_CLIENT_KEY_FILE is set without {ENV}HTTP_CLIENT_CERT_FILE",
        ),
        (
            {"http_client_key_password": "pw-123456"},
            f"{ENV}HTTP_CLIENT_KEY_PASSWORD is set without {ENV}HTTP_CLIENT_CERT_FILE",
        ),
        (
            {"http_ca_file": "/ca.pem", "pushr_base_url": "http://127.0.0.1:6700/api/client"},
            f"{ENV}HTTP_CA_FILE set, but {ENV}PUSHR_BASE_URL is not an https:// URL",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused_with_the_settings(
    values: dict[str, Any], expected: str
) -> None:
    assert problem(**values) == expected


# --- the proxy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "socks5://user:hunter2-proxy@proxy:1080",
        "https://user:hunter2-proxy@proxy:3128",
        "http://user:hunter2-proxy@proxy:port",
        "http://user:hunter2-proxy@proxy:3128/some/path",
        "http://:hunter2-proxy@:3128",
        "proxy-without-scheme:3128",
    ],
)
def test_a_proxy_url_of_another_form_is_refused_without_echoing_it(url: str) -> None:
    line = problem(http_proxy=url)
    assert line.startswith(f"{ENV}HTTP_PROXY ")
    assert "http://[user:password@]host:port" in line
    assert "hunter2" not in line
    assert "proxy-without-scheme" not in line


def test_the_explicit_proxy_wins_over_the_environment() -> None:
    explicit = settings(http_proxy="http://proxy.internal:3128", http_trust_env=True)
    assert proxy_url(explicit, {"HTTPS_PROXY": "http://other:3128"}) == (
        "http://proxy.internal:3128"
    )
    trusted = settings(http_trust_env=True)
    assert proxy_url(trusted, {"HTTPS_PROXY": "http://other:3128"}) == "http://other:3128"
    assert proxy_url(settings(), {"HTTPS_PROXY": "http://other:3128"}) is None


@pytest.mark.parametrize(
    ("environ", "target", "expected"),
    [
        ({"HTTPS_PROXY": "http://p:1"}, HTTPS, "http://p:1"),
        ({"HTTPS_PROXY": "http://p:1", "https_proxy": "http://lower:2"}, HTTPS, "http://lower:2"),
        ({"HTTP_PROXY": "http://p:1"}, HTTPS, None),  # HTTP_PROXY is for http:// targets
        ({"HTTP_PROXY": "http://p:1"}, "http://pushr.example/api", "http://p:1"),
        ({"ALL_PROXY": "http://all:3"}, HTTPS, "http://all:3"),
        ({"HTTPS_PROXY": "p:1"}, HTTPS, "http://p:1"),  # no scheme: http, as curl reads it
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "pushr.example"}, HTTPS, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example"}, HTTPS, None),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "localhost, example:443"}, HTTPS, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, HTTPS, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ushr.example,other"}, HTTPS, "http://p:1"),
        ({}, HTTPS, None),
    ],
)
def test_the_proxy_variables_as_curl_reads_them(
    environ: dict[str, str], target: str, expected: str | None
) -> None:
    assert environment_proxy(target, environ) == expected


def test_an_unusable_proxy_variable_names_the_variable_not_its_value() -> None:
    with pytest.raises(ConfigurationError) as refused:
        environment_proxy(HTTPS, {"HTTPS_PROXY": "socks5://u:hunter2-env@p:1080"})
    message = str(refused.value)
    assert message.startswith(f"HTTPS_PROXY (read because {ENV}HTTP_TRUST_ENV is on) must ")
    assert "hunter2" not in message


def test_what_of_the_proxy_may_be_logged() -> None:
    assert shown_proxy("http://relay:p%40ss@proxy:3128") == f"http://relay:{REDACTED}@proxy:3128"
    assert shown_proxy("http://proxy:3128") == "http://proxy:3128"
    assert shown_proxy(None) is None
    configured = settings(
        http_proxy="http://relay:p%40ssword-x@proxy:3128",
        http_client_cert_file="/c.pem",
        http_client_key_password="key-password-1",
    )
    assert set(egress_secrets(configured, {})) == {"p%40ssword-x", "p@ssword-x", "key-password-1"}
    from_env = settings(http_trust_env=True)
    assert egress_secrets(from_env, {"HTTPS_PROXY": "http://u:env-secret-1@p:1"}) == [
        "env-secret-1"
    ]


def test_the_start_up_line_names_the_proxy_without_its_password(tls: TlsMaterial) -> None:
    configured = settings(
        http_proxy="http://relay:proxy-secret-value@proxy.internal:3128",
        http_ca_file=tls.ca_file,
    )
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, secrets=configured_secrets(configured))
    try:
        build_http_client(configured, environ={})
    finally:
        configure_logging("INFO")
    (line,) = [orjson.loads(text) for text in stream.getvalue().splitlines()]
    assert line["event"] == "pushr_http_egress"
    assert line["proxy"] == f"http://relay:{REDACTED}@proxy.internal:3128"
    assert line["ca_file"] == str(tls.ca_file)
    assert "proxy-secret-value" not in stream.getvalue()


def test_run_reports_an_unreadable_ca_file_in_one_line_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}PUSHR_BASE_URL", HTTPS)
    monkeypatch.setenv(f"{ENV}HTTP_CA_FILE", str(tmp_path / "nowhere.pem"))
    # nothing listens here: reaching Kafka first would show as a wait, not this line
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")

    assert main(["run"]) == 2

    _out, err = capsys.readouterr()
    assert err == (
        f"pushr-relay: configuration error: {ENV}HTTP_CA_FILE: cannot read "
        f"{tmp_path / 'nowhere.pem'}: No such file or directory\n"
    )


# --- failure details --------------------------------------------------------------------------


def test_a_tls_failure_is_named_in_the_detail() -> None:
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] ...")
    verify.verify_message = "certificate has expired"
    wrapped = httpx.ConnectError("boom")
    wrapped.__cause__ = verify
    assert failure_detail(wrapped) == (
        "ConnectError: the server's TLS certificate is not trusted (certificate has expired)"
    )
    alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] ...")
    alert.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    handshake = httpx.ConnectError("boom")
    handshake.__context__ = alert
    assert failure_detail(handshake) == (
        "ConnectError: TLS handshake failed (TLSV1_ALERT_PROTOCOL_VERSION)"
    )
    assert failure_detail(httpx.ConnectError("refused")) == "ConnectError"


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [(None, "LeanTransport"), ("http://proxy.internal:3128", "MappedAiohttpTransport")],
)
async def test_the_lean_transport_hands_proxied_traffic_to_aiohttp(
    proxy: str | None, expected: str
) -> None:
    # it speaks no CONNECT nor absolute-form, so a proxy needs the transport that does
    configured = settings(http_transport="lean", http_proxy=SecretStr(proxy) if proxy else None)
    async with build_http_client(configured, environ={}) as client:
        assert type(client._transport).__name__ == expected
