"""How the relay reaches Push.R: the CA it trusts, its client certificate, its proxy.

Settings (`PUSHR_RELAY_HTTP_*`, see README "Push.R over HTTPS and through a proxy"):

- **CA file**: added to the default trust, not replacing it. The default is what both
  transports have always used (certifi's bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), so a
  private CA (a TLS-inspecting egress proxy, a private Push.R endpoint) is trusted without
  losing the public CAs that vouch for Push.R's own host.
- **Client certificate** and key (+ key password), for a gateway that asks for one.
- **Proxy**: `PUSHR_RELAY_HTTP_PROXY` (`http://[user:password@]host:port`; HTTPS to Push.R
  runs through its CONNECT tunnel), or with `PUSHR_RELAY_HTTP_TRUST_ENV=true` the standard
  `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` variables. The decision is made
  once, at start-up, for the one host the relay talks to; the explicit setting wins.

Files are read once by `load_tls`, and any that cannot be used raises `ConfigurationError`
with one line naming the setting and the file (never a password). A proxy URL's password
never appears in a message: `shown_proxy` masks it for the start-up log.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from service.configuration import ConfigurationError
from service.contract.masking import REDACTED

if TYPE_CHECKING:
    from service.settings import Settings

_ENV = "PUSHR_RELAY_"
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = b"PRIVATE KEY-----"
PROXY_FORM = "http://[user:password@]host:port"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str = ""

    @property
    def any(self) -> bool:
        return bool(self.ca_file or self.cert_file)


def tls_files(settings: Settings) -> TlsFiles:
    password = settings.http_client_key_password
    return TlsFiles(
        ca_file=settings.http_ca_file,
        cert_file=settings.http_client_cert_file,
        key_file=settings.http_client_key_file,
        key_password=password.get_secret_value() if password is not None else "",
    )


def egress_problems(settings: Settings) -> list[str]:
    """What makes the HTTPS and proxy settings unusable, one phrase each (no file is read)."""
    found: list[str] = []
    if settings.http_client_key_file and not settings.http_client_cert_file:
        found.append(f"{_ENV}HTTP_CLIENT_KEY_FILE is set without {_ENV}HTTP_CLIENT_CERT_FILE")
    if settings.http_client_key_password and not settings.http_client_cert_file:
        found.append(f"{_ENV}HTTP_CLIENT_KEY_PASSWORD is set without {_ENV}HTTP_CLIENT_CERT_FILE")
    tls_given = [
        name
        for name, value in (
            ("HTTP_CA_FILE", settings.http_ca_file),
            ("HTTP_CLIENT_CERT_FILE", settings.http_client_cert_file),
        )
        if value is not None
    ]
    if tls_given and urlsplit(settings.pushr_base_url).scheme != "https":
        names = " and ".join(_ENV + name for name in tls_given)
        found.append(f"{names} set, but {_ENV}PUSHR_BASE_URL is not an https:// URL")
    if settings.http_proxy is not None:
        problem = _proxy_problem(settings.http_proxy.get_secret_value())
        if problem:
            found.append(f"{_ENV}HTTP_PROXY {problem}")
    return found


def _proxy_problem(url: str) -> str | None:
    """Why `url` is not a usable forward proxy; the value itself is never quoted."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"is not a URL of the form {PROXY_FORM}"
    if parts.scheme != "http" or not parts.hostname:
        return f"must have the form {PROXY_FORM} (a plain-HTTP forward proxy)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"must have the form {PROXY_FORM}, without a path"
    return None


def load_tls(files: TlsFiles, base: Callable[[], ssl.SSLContext]) -> ssl.SSLContext | None:
    """The TLS context for Push.R: `base()` (the default trust) plus the CA file and the
    client certificate; None when neither is set, so the transports keep their defaults."""
    if not files.any:
        return None
    names = {"HTTP_CA_FILE": files.ca_file, "HTTP_CLIENT_CERT_FILE": files.cert_file}
    names["HTTP_CLIENT_KEY_FILE"] = files.key_file
    contents = {name: _read(name, path) for name, path in names.items() if path is not None}
    for name in ("HTTP_CA_FILE", "HTTP_CLIENT_CERT_FILE"):
        if name in contents and _CERTIFICATE not in contents[name]:
            raise ConfigurationError(f"{_ENV}{name} {names[name]} holds no PEM certificate")
    key_name = "HTTP_CLIENT_KEY_FILE" if files.key_file else "HTTP_CLIENT_CERT_FILE"
    if key_name in contents and _PRIVATE_KEY not in contents[key_name]:
        hint = "" if files.key_file else f"; set {_ENV}HTTP_CLIENT_KEY_FILE"
        raise ConfigurationError(
            f"{_ENV}{key_name} {names[key_name]} holds no PEM private key{hint}"
        )
    context = base()
    if files.ca_file is not None:
        try:
            context.load_verify_locations(cadata=contents["HTTP_CA_FILE"].decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError):
            raise ConfigurationError(
                f"{_ENV}HTTP_CA_FILE {files.ca_file} holds no usable certificate"
            ) from None
    if files.cert_file is not None:
        _load_chain(context, files)
    return context


def _load_chain(context: ssl.SSLContext, files: TlsFiles) -> None:
    asked = False

    def password() -> str:
        # never None: OpenSSL would prompt on the terminal for an encrypted key
        nonlocal asked
        asked = True
        return files.key_password

    key = files.key_file or files.cert_file
    try:
        context.load_cert_chain(files.cert_file or "", files.key_file, password=password)
    except ssl.SSLError as exc:
        if asked and not files.key_password:
            message = f"the key in {key} is encrypted: set {_ENV}HTTP_CLIENT_KEY_PASSWORD"
        elif asked:
            message = f"{_ENV}HTTP_CLIENT_KEY_PASSWORD does not decrypt the key in {key}"
        elif exc.reason == "KEY_VALUES_MISMATCH":
            message = f"{_ENV}HTTP_CLIENT_KEY_FILE {key} is not the key of the client certificate"
        else:
            message = f"cannot load {_ENV}HTTP_CLIENT_CERT_FILE: {exc.reason or 'unknown error'}"
        raise ConfigurationError(message) from None


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{_ENV}{name}: cannot read {path}: {exc.strerror or exc}"
        ) from None


def failure_detail(exc: BaseException) -> str:
    """`exc`'s type name, and the TLS reason when a TLS failure is behind it: a CA file that
    does not vouch for the server reads differently from a server that is down."""
    tls = _tls_cause(exc)
    name = type(exc).__name__
    if isinstance(tls, ssl.SSLCertVerificationError):
        reason = tls.verify_message or tls.reason or "verify failed"  # set by OpenSSL
        return f"{name}: the server's TLS certificate is not trusted ({reason})"
    if tls is not None:
        return f"{name}: TLS handshake failed ({tls.reason or type(tls).__name__})"
    return name


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The `ssl.SSLError` OpenSSL raised behind `exc`: httpx and aiohttp wrap it in one or two
    layers (aiohttp's wrappers are SSLErrors too, without OpenSSL's details)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) and type(current).__module__ == "ssl":
            return current
        linked = (current.__cause__, current.__context__, *current.args)
        linked += (getattr(current, "certificate_error", None), getattr(current, "os_error", None))
        todo += [item for item in linked if isinstance(item, BaseException)]
    return None


# ---- the proxy -----------------------------------------------------------------------------


def proxy_url(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """The forward proxy for Push.R's host, or None to connect directly."""
    if settings.http_proxy is not None:
        return settings.http_proxy.get_secret_value()
    if not settings.http_trust_env:
        return None
    return environment_proxy(settings.pushr_base_url, environ)


def environment_proxy(target: str, environ: Mapping[str, str]) -> str | None:
    """The proxy the standard variables name for `target`, as curl and httpx read them:
    lower-case names win, `HTTPS_PROXY` for https (`HTTP_PROXY` for http), then `ALL_PROXY`,
    unless `NO_PROXY` lists the host (or a domain it is in, or `*`)."""
    parts = urlsplit(target)
    if _bypassed((parts.hostname or "").lower(), _variable(environ, "no_proxy")):
        return None
    for name in (f"{parts.scheme}_proxy", "all_proxy"):
        chosen = _variable(environ, name)
        if chosen:
            url = chosen if "://" in chosen else f"http://{chosen}"
            problem = _proxy_problem(url)
            if problem:
                raise ConfigurationError(
                    f"{name.upper()} (read because {_ENV}HTTP_TRUST_ENV is on) {problem}"
                )
            return url
    return None


def _variable(environ: Mapping[str, str], lower: str) -> str:
    value = environ.get(lower)
    if value is None:
        value = environ.get(lower.upper())
    return (value or "").strip()


def _bypassed(host: str, no_proxy: str) -> bool:
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if entry == "*":
            return True
        name = entry.lstrip(".")
        if name.count(":") == 1:  # host:port (an IPv6 address has more colons)
            name = name.rsplit(":", 1)[0]
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def shown_proxy(url: str | None) -> str | None:
    """`url` fit for a log line: the password replaced by the redaction marker."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:{REDACTED}@{netloc}").geturl()


def egress_secrets(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Values no log line may contain: the proxy's password (as given and decoded) and the
    client key's password."""
    values = [tls_files(settings).key_password]
    try:
        url = proxy_url(settings, environ)
        password = urlsplit(url).password if url else None
    except (ConfigurationError, ValueError):
        password = None  # start-up reports the bad URL; it is not echoed anywhere
    if password:
        values += [password, unquote(password)]
    return [value for value in dict.fromkeys(values) if value]
