"""The JWT of Push.R's status list, in one of three ways, behind one small interface.

    token = await credentials.token()          # a token to send now
    token = await credentials.renew(token)     # after Push.R refused `token` (a 401)

- `StaticToken` (`PUSHR_RELAY_PUSHR_JWT`): the token as configured; nothing to renew.
- `TokenFile` (`PUSHR_RELAY_PUSHR_JWT_FILE`): the file's content, read again whenever the
  file changes (a rotated Kubernetes Secret swaps the mounted file) and on a refusal.
- `PasswordLogin` (`PUSHR_RELAY_PUSHR_USERNAME` + `_PASSWORD`): simplejwt's endpoints under
  the site root of the base URL (an assumption: Push.R's API text names none; the paths are
  settings). Obtain `{"username", "password"}` -> `{"access", "refresh"}`; refresh
  `{"refresh"}` -> `{"access"}`. The access token is renewed `renew_margin` before the `exp`
  of its payload (read, not verified: verifying is Push.R's job); a refused or expired
  refresh token falls back to obtaining a new pair.

`renew` gets the refused token, so that two readers refused at once (the status poller and
a reconciler) renew once: the second is handed the token the first obtained. When no newer
token can be had it returns the refused one, and the caller does not retry. Expiry is judged
on the injected Clock's wall time. Tokens and the password never reach a log line or an
error: errors name the endpoint and Push.R's (scrubbed) reason.
"""

from __future__ import annotations

import asyncio
import base64
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from pydantic import SecretStr

from service.clock import Clock
from service.configuration import ConfigurationError
from service.contract.masking import safe_detail
from service.observability.logging import get_logger
from service.pushr.egress import failure_detail

if TYPE_CHECKING:
    import httpx

    from service.settings import Settings

log = get_logger(__name__)

_ENV = "PUSHR_RELAY_"


class CredentialsError(Exception):
    """No token to be had: `kind` is `unauthorized` (Push.R refused the credentials) or
    `error` (no usable answer)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class Credentials(Protocol):
    async def token(self) -> str:
        """A token to send now."""
        ...

    async def renew(self, rejected: str) -> str:
        """A token to use instead of `rejected`; `rejected` itself when there is none."""
        ...


def credential_problems(settings: Settings) -> list[str]:
    """What makes the credential settings unusable, one phrase each (no file is read)."""
    found: list[str] = []
    login = settings.pushr_username is not None or settings.pushr_password is not None
    ways = [settings.pushr_jwt is not None, settings.pushr_jwt_file is not None, login]
    if sum(ways) > 1:
        found.append(
            f"set one of {_ENV}PUSHR_JWT, {_ENV}PUSHR_JWT_FILE or {_ENV}PUSHR_USERNAME with "
            f"{_ENV}PUSHR_PASSWORD, not several"
        )
    if login and (not settings.pushr_username or not settings.pushr_password):
        found.append(f"{_ENV}PUSHR_USERNAME and {_ENV}PUSHR_PASSWORD go together")
    for name, path in (
        ("PUSHR_JWT_OBTAIN_PATH", settings.pushr_jwt_obtain_path),
        ("PUSHR_JWT_REFRESH_PATH", settings.pushr_jwt_refresh_path),
    ):
        if not path.startswith("/") or "://" in path:
            found.append(f"{_ENV}{name} must be a path starting with /, got {path!r}")
    return found


def credentials_configured(settings: Settings) -> bool:
    return any((settings.pushr_jwt, settings.pushr_jwt_file, settings.pushr_username))


def site_url(base_url: str, path: str) -> str:
    """`path` under the site root (scheme, host and port) of `base_url`."""
    scheme, _, rest = base_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}{path}"


def build_credentials(
    settings: Settings, http: httpx.AsyncClient, clock: Clock
) -> Credentials | None:
    """The configured way, None when none is; a token file that cannot be read raises
    `ConfigurationError`."""
    if settings.pushr_jwt is not None:
        return StaticToken(settings.pushr_jwt)
    if settings.pushr_jwt_file is not None:
        return TokenFile(settings.pushr_jwt_file)
    if settings.pushr_username and settings.pushr_password:
        base = settings.pushr_base_url
        return PasswordLogin(
            http,
            obtain_url=site_url(base, settings.pushr_jwt_obtain_path),
            refresh_url=site_url(base, settings.pushr_jwt_refresh_path),
            username=settings.pushr_username,
            password=settings.pushr_password,
            clock=clock,
            renew_margin=settings.pushr_jwt_renew_margin_seconds,
        )
    return None


class StaticToken:
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token.get_secret_value()

    async def renew(self, rejected: str) -> str:
        return self._token.get_secret_value()  # a restart with a new token is the only way


class TokenFile:
    """The token in a file, read again when the file changes. A file that goes missing or
    empty for a moment (mid-rotation) leaves the last token in use."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int, int] | None = None
        try:
            self._token = self._read()
        except OSError as exc:
            raise ConfigurationError(
                f"{_ENV}PUSHR_JWT_FILE: cannot read {path}: {exc.strerror or exc}"
            ) from None
        if not self._token:
            raise ConfigurationError(f"{_ENV}PUSHR_JWT_FILE {path} is empty")

    def _read(self) -> str:
        stat = self._path.stat()
        self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        return self._path.read_text(encoding="utf-8").strip()

    def _reload(self, always: bool) -> str:
        try:
            stat = self._path.stat()
            if always or (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._seen:
                token = self._read()
                if token and token != self._token:
                    log.info("pushr_jwt_file_reloaded", path=str(self._path))
                    self._token = token
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("pushr_jwt_file_unreadable", path=str(self._path), error=type(exc).__name__)
        return self._token

    async def token(self) -> str:
        return self._reload(always=False)

    async def renew(self, rejected: str) -> str:
        return self._reload(always=True)


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT's payload, unverified; None when there is none to read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool) and math.isfinite(exp):
        return float(exp)
    return None


class PasswordLogin:
    """Access and refresh tokens from simplejwt-style endpoints (see the module docstring)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        obtain_url: str,
        refresh_url: str,
        username: str,
        password: SecretStr,
        clock: Clock,
        renew_margin: float,
    ) -> None:
        self._http = http
        self._obtain_url = obtain_url
        self._refresh_url = refresh_url
        self._username = username
        self._password = password
        self._clock = clock
        self._margin = renew_margin
        self._lock = asyncio.Lock()
        self._access = ""
        self._renew_at = 0.0
        self._refresh = ""
        self._refresh_expires = 0.0

    async def token(self) -> str:
        async with self._lock:
            if self._access and self._clock.now() < self._renew_at:
                return self._access
            return await self._renewed()

    async def renew(self, rejected: str) -> str:
        async with self._lock:
            if self._access and self._access != rejected and self._clock.now() < self._renew_at:
                return self._access  # renewed by another reader meanwhile
            self._access = ""
            return await self._renewed()

    async def _renewed(self) -> str:
        if self._refresh and self._clock.now() < self._refresh_expires:
            try:
                body = await self._post(self._refresh_url, {"refresh": self._refresh}, "refresh")
            except CredentialsError as failed:
                log.warning("pushr_jwt_refresh_failed", kind=failed.kind, detail=failed.detail)
            else:
                self._keep(body, "refresh")
                return self._access
        body = await self._post(
            self._obtain_url,
            {"username": self._username, "password": self._password.get_secret_value()},
            "obtain",
        )
        self._keep(body, "obtain")
        return self._access

    def _keep(self, body: dict[str, Any], step: str) -> None:
        now = self._clock.now()
        access = body["access"]
        self._access = access
        self._renew_at = self._renew_time(jwt_expiry(access), now)
        refresh = body.get("refresh")
        if isinstance(refresh, str) and refresh:  # obtain, or refresh with rotation
            self._refresh = refresh
            expires = jwt_expiry(refresh)
            self._refresh_expires = math.inf if expires is None else expires - self._margin
        left = None if math.isinf(self._renew_at) else round(self._renew_at - now, 1)
        log.info("pushr_jwt_renewed", step=step, renew_in=left)

    def _renew_time(self, exp: float | None, now: float) -> float:
        if exp is None or exp <= now:
            # no readable expiry, or one already past by our clock (a skewed clock): use
            # it until Push.R refuses it rather than renewing at every call
            return math.inf
        return exp - min(self._margin, (exp - now) / 2)

    async def _post(self, url: str, payload: dict[str, str], step: str) -> dict[str, Any]:
        secrets = [self._password.get_secret_value(), self._refresh]
        try:
            response = await self._http.post(url, content=orjson.dumps(payload), headers=_JSON)
        except Exception as exc:  # any failure to get an answer: try again next round
            raise CredentialsError("error", f"{step} endpoint: {failure_detail(exc)}") from None
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        status = response.status_code
        if status in (400, 401, 403):
            reason = body.get("detail") if isinstance(body, dict) else None
            reason = safe_detail(str(reason or f"HTTP {status}"), secrets)
            raise CredentialsError(
                "unauthorized",
                f"Push.R refused the {step} for user {self._username!r} ({status}: {reason})",
            )
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access"), str):
            raise CredentialsError(
                "error", f"{step} endpoint answered HTTP {status} without a token"
            )
        return body


_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
