"""How every aiokafka client of the relay authenticates and encrypts: one validated block.

`KafkaSecurity` holds the values (from `Settings`, or from a local broker in the devkit);
`KafkaClientSecurity` checks them once, loads the TLS files into one `SSLContext` and makes one
OAUTHBEARER token provider, and hands out the same keyword arguments to every client
(consumer, producer, admin, readiness probe, `pushr-relay produce`). A combination that
cannot work raises `KafkaSecurityError` with one line naming the settings, before any
connection is tried.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from service.configuration import ConfigurationError

if TYPE_CHECKING:
    from service.kafka.oauth import OAuthTokenProvider

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

_ENV = "PUSHR_RELAY_KAFKA_"
_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
_PASSWORD = ("SASL_USERNAME", "SASL_PASSWORD")
_OAUTH = ("SASL_OAUTH_TOKEN_URL", "SASL_OAUTH_CLIENT_ID", "SASL_OAUTH_CLIENT_SECRET")
_TLS_FILES = ("SSL_CAFILE", "SSL_CERTFILE", "SSL_KEYFILE")
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = b"PRIVATE KEY-----"


class KafkaSecurityError(ConfigurationError, ValueError):
    """Kafka security settings that cannot work. A ValueError too, so that raised while
    `Settings` validates it becomes a validation error like any other bad setting."""


@dataclass(frozen=True)
class KafkaSecurity:
    """The values of the `PUSHR_RELAY_KAFKA_*` security settings (see `Settings`)."""

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_scope: str | None = None

    def problems(self) -> list[str]:
        """What makes this combination unusable, one phrase each; empty when it can work."""
        found: list[str] = []
        given = self._given()
        tls, sasl = self.protocol in _TLS_PROTOCOLS, self.protocol in _SASL_PROTOCOLS
        mechanism = self.sasl_mechanism
        if mechanism and not sasl:
            found.append(
                f"{_ENV}SASL_MECHANISM={mechanism} needs {_ENV}SECURITY_PROTOCOL=SASL_SSL "
                f"(or SASL_PLAINTEXT), not {self.protocol}"
            )
        if sasl and not mechanism:
            found.append(f"{_ENV}SECURITY_PROTOCOL={self.protocol} needs {_ENV}SASL_MECHANISM")
        oauth = mechanism == "OAUTHBEARER"
        if sasl and mechanism:
            missing = [name for name in (_OAUTH if oauth else _PASSWORD) if not given.get(name)]
            if missing:
                found.append(f"{_ENV}SASL_MECHANISM={mechanism} needs {_listing(missing)}")
        uses = (
            (tls, _TLS_FILES, f"TLS (protocol {self.protocol})"),
            (sasl and bool(mechanism) and not oauth, _PASSWORD, "a PLAIN or SCRAM mechanism"),
            (sasl and oauth, _OAUTH, "SASL_MECHANISM=OAUTHBEARER"),
        )
        for in_use, names, needs in uses:
            unused = [name for name in names if given.get(name)]
            if unused and not in_use:  # given for something not in use: a sign of a mistake
                found.append(f"{_listing(unused)} set, but only used with {needs}")
        if self.ssl_keyfile and not self.ssl_certfile:
            found.append(f"{_ENV}SSL_KEYFILE is set without {_ENV}SSL_CERTFILE")
        if given.get("SSL_KEY_PASSWORD") and not (self.ssl_keyfile or self.ssl_certfile):
            found.append(f"{_ENV}SSL_KEY_PASSWORD is set without a key ({_ENV}SSL_KEYFILE)")
        return found

    def _given(self) -> dict[str, object]:
        """Setting name (without the prefix) -> value, secrets as their text."""
        return {
            "SASL_USERNAME": self.sasl_username,
            "SASL_PASSWORD": _secret(self.sasl_password),
            "SASL_OAUTH_TOKEN_URL": self.oauth_token_url,
            "SASL_OAUTH_CLIENT_ID": self.oauth_client_id,
            "SASL_OAUTH_CLIENT_SECRET": _secret(self.oauth_client_secret),
            "SSL_CAFILE": self.ssl_cafile,
            "SSL_CERTFILE": self.ssl_certfile,
            "SSL_KEYFILE": self.ssl_keyfile,
            "SSL_KEY_PASSWORD": _secret(self.ssl_key_password),
        }

    def secrets(self) -> list[str]:
        """Values no log line may contain."""
        values = (self.sasl_password, self.ssl_key_password, self.oauth_client_secret)
        return [v for v in map(_secret, values) if v]


class KafkaClientSecurity:
    """`KafkaSecurity` checked and loaded once: the TLS context and the token provider that
    every client shares. Raises `KafkaSecurityError` (one line) when they cannot work."""

    def __init__(self, security: KafkaSecurity) -> None:
        problems = security.problems()
        if problems:
            raise KafkaSecurityError("; ".join(problems))
        self.security = security
        self.ssl_context = (
            load_ssl_context(security) if security.protocol in _TLS_PROTOCOLS else None
        )
        self.token_provider: OAuthTokenProvider | None = None
        if security.sasl_mechanism == "OAUTHBEARER" and security.oauth_client_secret:
            from service.kafka.oauth import OAuthTokenProvider  # noqa: PLC0415 - imports aiokafka

            self.token_provider = OAuthTokenProvider(
                token_url=str(security.oauth_token_url),
                client_id=str(security.oauth_client_id),
                client_secret=security.oauth_client_secret,
                scope=security.oauth_scope,
            )

    def options(self) -> dict[str, Any]:
        """aiokafka keyword arguments; nothing beyond the protocol for PLAINTEXT, so the
        clients of a user who sets none of these settings are built as before."""
        security = self.security
        if security.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": security.protocol}
        if self.ssl_context is not None:
            options["ssl_context"] = self.ssl_context
        if security.sasl_mechanism is not None:
            options["sasl_mechanism"] = security.sasl_mechanism
        if security.sasl_mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = self.token_provider
        elif security.sasl_mechanism is not None:
            options["sasl_plain_username"] = security.sasl_username
            options["sasl_plain_password"] = _secret(security.sasl_password)
        return options


def load_ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    """The client TLS context of `security`; a file that cannot be read or used raises
    `KafkaSecurityError` naming the setting and the file (never a password)."""
    files = {"SSL_CAFILE": security.ssl_cafile, "SSL_CERTFILE": security.ssl_certfile}
    files["SSL_KEYFILE"] = security.ssl_keyfile
    contents = {name: _read(name, path) for name, path in files.items() if path is not None}
    for name in ("SSL_CAFILE", "SSL_CERTFILE"):
        if name in contents and _CERTIFICATE not in contents[name]:
            raise KafkaSecurityError(f"{_ENV}{name} {files[name]} holds no PEM certificate")
    key_name = "SSL_KEYFILE" if "SSL_KEYFILE" in contents else "SSL_CERTFILE"
    if key_name in contents and _PRIVATE_KEY not in contents[key_name]:
        hint = "" if key_name == "SSL_KEYFILE" else f"; set {_ENV}SSL_KEYFILE"
        raise KafkaSecurityError(
            f"{_ENV}{key_name} {files[key_name]} holds no PEM private key{hint}"
        )
    # imported here: every command reads Settings, and only TLS users need aiokafka for it
    from aiokafka.helpers import create_ssl_context  # noqa: PLC0415

    asked_for_password = False

    def key_password() -> str:
        # never None: OpenSSL would prompt on the terminal for an encrypted key
        nonlocal asked_for_password
        asked_for_password = True
        return _secret(security.ssl_key_password)

    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=security.ssl_cafile,
            certfile=security.ssl_certfile,
            keyfile=security.ssl_keyfile,
            password=key_password,
        )
    except ssl.SSLError as exc:
        raise KafkaSecurityError(_tls_load_error(security, exc, asked_for_password)) from None
    # unsafe, and off only when asked: the chain is still verified, the name no longer
    context.check_hostname = security.ssl_check_hostname
    return context


def _tls_load_error(security: KafkaSecurity, exc: ssl.SSLError, asked_for_password: bool) -> str:
    key = security.ssl_keyfile or security.ssl_certfile
    if asked_for_password and not _secret(security.ssl_key_password):
        return f"the key in {key} is encrypted: set {_ENV}SSL_KEY_PASSWORD"
    if asked_for_password:
        return f"{_ENV}SSL_KEY_PASSWORD does not decrypt the key in {key}"
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"{_ENV}SSL_KEYFILE {key} is not the key of {_ENV}SSL_CERTFILE"
    if exc.reason == "NO_CERTIFICATE_OR_CRL_FOUND":
        return f"{_ENV}SSL_CAFILE {security.ssl_cafile} holds no usable certificate"
    return f"cannot load the Kafka TLS files: {exc.reason or exc.library or 'unknown error'}"


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KafkaSecurityError(
            f"{_ENV}{name}: cannot read {path}: {exc.strerror or exc}"
        ) from None


def _listing(names: list[str]) -> str:
    """`A`, `A and B`, `A, B and C`, each with the settings prefix."""
    full = [_ENV + name for name in names]
    return " and ".join([", ".join(full[:-1]), full[-1]] if len(full) > 1 else full)


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
