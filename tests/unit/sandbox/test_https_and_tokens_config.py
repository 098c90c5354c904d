"""The sandbox's HTTPS and token settings: config keys, flags and the combinations refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.devkit.sandbox import cli
from service.devkit.sandbox.accounts import AccountStore, merge_businesses
from service.devkit.sandbox.config import SandboxConfig
from tests.fixtures.tls import TlsMaterial


def test_defaults_are_simplejwts_and_plain_http() -> None:
    config = SandboxConfig()
    assert (config.access_token_ttl_s, config.refresh_token_ttl_s) == (300, 86_400)
    assert config.tls_context() is None


def test_config_keys_and_flags(tls: TlsMaterial) -> None:
    config = SandboxConfig.from_dict(
        {"access_token_ttl_s": 30, "refresh_token_ttl_s": 90,
         "tls_cert_file": str(tls.server_cert), "tls_key_file": str(tls.server_key)}
    )  # fmt: skip
    assert (config.access_token_ttl_s, config.refresh_token_ttl_s) == (30, 90)
    assert config.tls_context() is not None
    args = cli.parser().parse_args(
        ["--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key),
         "--tls-client-ca", str(tls.ca_file), "--access-token-ttl", "45"]
    )  # fmt: skip
    flagged = cli.build_config(args)
    assert flagged.access_token_ttl_s == 45
    context = flagged.tls_context()
    assert context is not None
    assert context.verify_mode.name == "CERT_REQUIRED"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"access_token_ttl_s": 0}, "token lifetimes must be > 0 seconds"),
        ({"refresh_token_ttl_s": -1}, "token lifetimes must be > 0 seconds"),
        ({"tls_cert_file": "c.pem"}, "tls_cert_file and tls_key_file go together"),
        (
            {"tls_client_ca_file": "ca.pem"},
            "tls_client_ca_file needs tls_cert_file and tls_key_file",
        ),
    ],
)
def test_combinations_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxConfig.from_dict(values)


def test_a_key_that_is_not_the_certificates_is_named(tls: TlsMaterial) -> None:
    config = SandboxConfig(tls_cert_file=str(tls.server_cert), tls_key_file=str(tls.client_key))
    with pytest.raises(ValueError, match=r"cannot load the TLS files .*KEY_VALUES_MISMATCH"):
        config.tls_context()


def test_the_demo_users_log_in_and_nobody_else(tmp_path: Path) -> None:
    accounts = AccountStore(merge_businesses([]))
    demo = accounts.login("demo", "demo-password")
    small = accounts.login("small", "small-password")
    assert (demo and demo.id, small and small.id) == (1, 2)
    assert accounts.login("demo", "small-password") is None
    assert accounts.login("demo", None) is None
    assert accounts.login("nobody", "demo-password") is None
    assert "password" not in accounts.require(1).to_dict()  # the admin API shows no password
