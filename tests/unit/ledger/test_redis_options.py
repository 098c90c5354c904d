"""The Redis settings: URL forms, credentials that win over the URL's, TLS files checked at
start-up, Sentinel addresses, and combinations that cannot work (one line, no secret)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio.connection import SSLConnection

from service.devkit.certs import Authority
from service.ledger.redis_options import (
    connection_options,
    secret_values,
    sentinel_addresses,
    wait_replicas,
)
from service.settings import Settings

PASSWORD = "s3cret-Redis-pass"


def settings(**values: Any) -> Settings:
    return Settings(**values)


def problem(**values: Any) -> str:
    """The one-line message a Settings validation error carries."""
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    (error,) = caught.value.errors()
    message = str(error["msg"]).removeprefix("Value error, ")
    assert "\n" not in message
    assert PASSWORD not in str(caught.value)
    return message


@pytest.fixture(autouse=True)
def no_redis_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings read the environment: a REDIS_URL set for the integration tests stays out.
    for name in [*os.environ]:
        if name == "REDIS_URL" or name.startswith("PUSHR_RELAY_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority()


@pytest.fixture
def tls_files(authority: Authority, tmp_path: Path) -> tuple[Path, Path, Path]:
    ca = authority.write_ca(tmp_path / "ca.crt")
    cert, key = authority.issue("relay", client=True).write(tmp_path, "relay")
    return ca, cert, key


def test_nothing_set_means_no_redis_and_no_change() -> None:
    plain = settings()
    assert not plain.redis_configured()
    assert connection_options(plain) == {}
    assert wait_replicas(plain) == 0
    assert secret_values(plain) == []


def test_url_forms_keep_working() -> None:
    options = connection_options(settings(redis_url=f"redis://relay:{PASSWORD}@cache:6390/3"))
    assert options == {
        "username": "relay",
        "password": PASSWORD,
        "host": "cache",
        "port": 6390,
        "db": 3,
    }
    assert connection_options(settings(redis_url="rediss://cache:6380/0"))["connection_class"] is (
        SSLConnection
    )


def test_user_and_password_settings_win_over_the_urls() -> None:
    chosen = settings(
        redis_url="redis://old:stale-password@cache:6379/0",
        redis_username="relay",
        redis_password=PASSWORD,
    )
    options = connection_options(chosen)
    assert (options["username"], options["password"]) == ("relay", PASSWORD)
    # both are secrets the log scrubber must know
    assert set(secret_values(chosen)) == {"stale-password", PASSWORD}


def test_tls_files_become_redis_py_options(tls_files: tuple[Path, Path, Path]) -> None:
    ca, cert, key = tls_files
    chosen = settings(
        redis_url="rediss://127.0.0.1:6380/0",
        redis_ca_file=ca,
        redis_cert_file=cert,
        redis_key_file=key,
    )
    options = connection_options(chosen)
    assert options["ssl_ca_certs"] == str(ca)
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (str(cert), str(key))


def test_sentinel_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHR_RELAY_REDIS_SENTINELS", "s1:26379, s2:26380,s3,[::1]:5000")
    monkeypatch.setenv("PUSHR_RELAY_REDIS_SENTINEL_MASTER", "mymaster")
    chosen = Settings()
    assert sentinel_addresses(chosen) == [
        ("s1", 26379),
        ("s2", 26380),
        ("s3", 26379),
        ("::1", 5000),
    ]
    assert chosen.redis_configured()
    # Sentinel means replicas: each write waits for one unless told otherwise
    assert wait_replicas(chosen) == 1
    assert wait_replicas(Settings(redis_wait_replicas=0)) == 0
    assert wait_replicas(Settings(redis_wait_replicas=2)) == 2


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"redis_sentinels": "s1:x"}, "PUSHR_RELAY_REDIS_SENTINELS: 's1:x' is not host:port"),
        ({"redis_sentinels": "s1"}, "needs PUSHR_RELAY_REDIS_SENTINEL_MASTER"),
        (
            {"redis_sentinels": "s1", "redis_sentinel_master": "m", "redis_url": "redis://h:1/0"},
            "the master's address comes from Sentinel",
        ),
        ({"redis_sentinel_master": "m"}, "need PUSHR_RELAY_REDIS_SENTINELS"),
        ({"redis_sentinel_password": PASSWORD}, "need PUSHR_RELAY_REDIS_SENTINELS"),
        ({"redis_url": "http://h:1/0"}, "must start with redis://, rediss://"),
        ({"ledger_backend": "redis"}, "needs PUSHR_RELAY_REDIS_URL (or REDIS_URL)"),
        (
            {"redis_url": "redis://h:1/0", "redis_ca_file": "/etc/hostname"},
            "are TLS settings: give a rediss://",
        ),
        (
            {"redis_url": "rediss://h:1/0", "redis_key_file": "/etc/hostname"},
            "PUSHR_RELAY_REDIS_KEY_FILE needs PUSHR_RELAY_REDIS_CERT_FILE",
        ),
    ],
)
def test_combinations_that_cannot_work(values: dict[str, Any], expected: str) -> None:
    assert expected in problem(redis_password=PASSWORD, **values)


def test_a_missing_ca_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.crt"
    message = problem(redis_url="rediss://h:6380/0", redis_ca_file=missing, redis_password=PASSWORD)
    assert message == (
        f"PUSHR_RELAY_REDIS_CA_FILE={missing}: cannot read it (No such file or directory)"
    )


def test_an_unreadable_ca_file_is_one_line(tmp_path: Path) -> None:
    message = problem(redis_url="rediss://h:6380/0", redis_ca_file=tmp_path)
    assert message == f"PUSHR_RELAY_REDIS_CA_FILE={tmp_path}: cannot read it (Is a directory)"


def test_a_ca_file_without_a_certificate_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "ca.crt"
    junk.write_text("not a certificate\n")
    message = problem(redis_url="rediss://h:6380/0", redis_ca_file=junk)
    assert message.startswith(f"PUSHR_RELAY_REDIS_CA_FILE={junk}: no PEM CA certificate in it")


def test_a_key_that_does_not_match_the_certificate_is_one_line(
    authority: Authority, tls_files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    ca, cert, _ = tls_files
    _, other_key = authority.issue("other", client=True).write(tmp_path / "other", "other")
    message = problem(
        redis_url="rediss://h:6380/0", redis_ca_file=ca, redis_cert_file=cert,
        redis_key_file=other_key,
    )  # fmt: skip
    assert message.startswith(f"PUSHR_RELAY_REDIS_CERT_FILE={cert}: not a PEM certificate")


def test_an_encrypted_key_fails_without_asking_for_a_password(
    authority: Authority, tmp_path: Path
) -> None:
    cert, key = authority.issue("relay", client=True, key_password=b"pw123456").write(
        tmp_path, "relay"
    )
    message = problem(redis_url="rediss://h:6380/0", redis_cert_file=cert, redis_key_file=key)
    assert "(unencrypted) key" in message


def test_a_missing_key_file_is_named(tls_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, cert, _ = tls_files
    missing = tmp_path / "gone.key"
    message = problem(redis_url="rediss://h:6380/0", redis_cert_file=cert, redis_key_file=missing)
    assert message.startswith(f"PUSHR_RELAY_REDIS_KEY_FILE={missing}: cannot read it")


def test_an_expired_client_certificate_is_not_a_start_up_error(
    authority: Authority, tmp_path: Path
) -> None:
    # Expiry is the server's verdict at connect time (a clear TLS error then), not a
    # reason to refuse to start: the file itself is sound.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert, key = authority.issue(
        "relay", client=True, valid_from=past - dt.timedelta(days=2), valid_until=past
    ).write(tmp_path, "relay")
    chosen = settings(redis_url="rediss://h:6380/0", redis_cert_file=cert, redis_key_file=key)
    assert connection_options(chosen)["ssl_certfile"] == str(cert)
