"""What the Redis settings mean: checked once at start-up, then turned into redis-py options.

Every Redis client of the relay (ledger, shared rate limit, status poller) is built from these
by `service.ledger.factory.redis_client`, so TLS, the ACL user and Sentinel apply to all of
them. Problems are `ValueError`s of one line that name the variable and never a secret.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from redis.asyncio.connection import parse_url

if TYPE_CHECKING:
    from service.settings import Settings

SENTINEL_DEFAULT_PORT = 26379
_URL = "PUSHR_RELAY_REDIS_URL"
_SENTINELS = "PUSHR_RELAY_REDIS_SENTINELS"


def check_redis_settings(settings: Settings) -> None:
    """Raise on Redis settings that cannot work, before anything connects."""
    url = urlsplit(settings.redis_url) if settings.redis_url else None
    if url is not None and url.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"{_URL} must start with redis://, rediss:// (TLS) or unix://")
    sentinels = sentinel_addresses(settings)
    if sentinels:
        if not settings.redis_sentinel_master:
            raise ValueError(
                f"{_SENTINELS} needs PUSHR_RELAY_REDIS_SENTINEL_MASTER, the name the "
                "sentinels monitor the master under"
            )
        if url is not None and (url.hostname or url.scheme == "unix"):
            raise ValueError(
                f"with {_SENTINELS} the master's address comes from Sentinel: leave {_URL} "
                "unset, or give it without a host (rediss:// for TLS, redis:///2 for database 2)"
            )
    elif settings.redis_sentinel_master or settings.redis_sentinel_password:
        raise ValueError(f"PUSHR_RELAY_REDIS_SENTINEL_MASTER and _PASSWORD need {_SENTINELS}")
    if settings.ledger_backend == "redis" and not settings.redis_configured():
        raise ValueError(
            f"PUSHR_RELAY_LEDGER_BACKEND=redis needs {_URL} (or REDIS_URL) or {_SENTINELS}"
        )
    files = (settings.redis_ca_file, settings.redis_cert_file, settings.redis_key_file)
    if any(files) and not uses_tls(settings):
        raise ValueError(
            "PUSHR_RELAY_REDIS_CA_FILE, _CERT_FILE and _KEY_FILE are TLS settings: "
            f"give a rediss:// {_URL}"
        )
    if settings.redis_key_file and not settings.redis_cert_file:
        raise ValueError("PUSHR_RELAY_REDIS_KEY_FILE needs PUSHR_RELAY_REDIS_CERT_FILE")
    if uses_tls(settings):
        check_tls_files(settings.redis_ca_file, settings.redis_cert_file, settings.redis_key_file)


def uses_tls(settings: Settings) -> bool:
    return bool(settings.redis_url) and urlsplit(settings.redis_url or "").scheme == "rediss"


def wait_replicas(settings: Settings) -> int:
    """Replicas that must confirm each ledger write; unset: 1 with Sentinel, else 0."""
    if settings.redis_wait_replicas is not None:
        return settings.redis_wait_replicas
    return 1 if settings.redis_sentinels else 0


def sentinel_addresses(settings: Settings) -> list[tuple[str, int]]:
    """`host:port` entries as pairs (the port defaults to 26379); raises on a bad entry."""
    addresses = []
    for entry in settings.redis_sentinels:
        host, colon, port = entry.rpartition(":")
        if not colon:
            host, port = entry, str(SENTINEL_DEFAULT_PORT)
        host = host.removeprefix("[").removesuffix("]")  # [::1]:26379
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{_SENTINELS}: {entry!r} is not host:port")
        addresses.append((host, int(port)))
    return addresses


def connection_options(settings: Settings) -> dict[str, Any]:
    """redis-py connection keywords: the URL's, then the ACL user, password and TLS files
    of the settings (which win over what the URL carries)."""
    options: dict[str, Any] = dict(parse_url(settings.redis_url)) if settings.redis_url else {}
    if settings.redis_username is not None:
        options["username"] = settings.redis_username
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.get_secret_value()
    if uses_tls(settings):
        options.update(tls_options(settings))
    return options


def tls_options(settings: Settings) -> dict[str, Any]:
    """redis-py TLS keywords. Certificate and host name are checked (redis-py's default);
    the files are read again for each new connection, so a renewed certificate is used
    from the next reconnect on."""
    options: dict[str, Any] = {}
    if settings.redis_ca_file:
        options["ssl_ca_certs"] = str(settings.redis_ca_file)
    if settings.redis_cert_file:
        options["ssl_certfile"] = str(settings.redis_cert_file)
    if settings.redis_key_file:
        options["ssl_keyfile"] = str(settings.redis_key_file)
    return options


def secret_values(settings: Settings) -> list[str]:
    """The Redis passwords in use, for the log scrubber."""
    values = [urlsplit(settings.redis_url).password or ""] if settings.redis_url else []
    for secret in (settings.redis_password, settings.redis_sentinel_password):
        if secret is not None:
            values.append(secret.get_secret_value())
    return [value for value in values if value]


def check_tls_files(ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> None:
    """Load the files as a connection would, so a bad one fails at start-up, not per connect."""
    context = ssl.create_default_context()
    if ca_file:
        _load("PUSHR_RELAY_REDIS_CA_FILE", ca_file, "no PEM CA certificate in it",
              lambda: context.load_verify_locations(cafile=str(ca_file)))  # fmt: skip
    if cert_file:
        if key_file:
            _readable("PUSHR_RELAY_REDIS_KEY_FILE", key_file)
        # A password callback that gives none: an encrypted key fails here, instead of
        # OpenSSL asking for its password on a terminal.
        key = str(key_file) if key_file else None
        _load("PUSHR_RELAY_REDIS_CERT_FILE", cert_file,
              "not a PEM certificate with its (unencrypted) key",
              lambda: context.load_cert_chain(str(cert_file), key, lambda: b""))  # fmt: skip


def _load(name: str, path: Path, unusable: str, load: Callable[[], None]) -> None:
    _readable(name, path)
    try:
        load()
    except ssl.SSLError as exc:
        raise ValueError(f"{name}={path}: {unusable} ({exc.reason or exc})") from None
    except OSError as exc:
        raise ValueError(f"{name}={path}: cannot read it ({exc.strerror})") from None


def _readable(name: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"{name}={path}: cannot read it ({exc.strerror})") from None
