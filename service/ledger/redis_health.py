"""One clear log line when Redis stops answering, and one when it answers again.

A wrong password, an untrusted certificate or a Sentinel that knows no such master fails
every call the same way; logging each failure would bury the one line that says what to fix
under thousands that say nothing new. `OutageLog` logs transitions only, and
`describe_redis_error` says in words what went wrong, naming settings, never a secret (no
server reply text either: a script error may echo its arguments).
"""

from __future__ import annotations

import ssl
from typing import TypeVar

from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    NoPermissionError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.ledger.redis_wait import UnconfirmedWriteError
from service.observability.logging import get_logger

log = get_logger(__name__)

_E = TypeVar("_E", bound=BaseException)


class OutageLog:
    """Logs `redis_unavailable` (error, with the reason) on the first failure after a
    success, and `redis_available` on the first success after a failure; nothing else."""

    def __init__(self, component: str) -> None:
        self._component = component
        self._failing = False

    def failed(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.error("redis_unavailable", component=self._component, reason=describe(exc))

    def answered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("redis_available", component=self._component)


def describe(exc: BaseException) -> str:
    """What went wrong, in one line an operator can act on."""
    tls = _ssl_cause(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return (
            f"TLS: the server's certificate is not trusted ({tls.verify_message}); "
            "check PUSHR_RELAY_REDIS_CA_FILE and the host name in the URL"
        )
    if tls is not None and "CERTIFICATE_REQUIRED" in str(tls.reason):
        return "TLS: the server requires a client certificate (PUSHR_RELAY_REDIS_CERT_FILE)"
    if tls is not None:
        return (
            f"TLS handshake failed ({tls.reason or type(tls).__name__}): is it a TLS port, and "
            "one that accepts this client certificate (PUSHR_RELAY_REDIS_CERT_FILE)?"
        )
    if _asks_for_credentials(exc):
        return "Redis asks for a user and password: set PUSHR_RELAY_REDIS_PASSWORD (and _USERNAME)"
    if isinstance(exc, AuthenticationError):
        return (
            "authentication failed: wrong user or password "
            "(PUSHR_RELAY_REDIS_USERNAME, PUSHR_RELAY_REDIS_PASSWORD or the URL's)"
        )
    if isinstance(exc, NoPermissionError):
        return (
            "the ACL user may not run a command or touch a key the relay needs "
            "(README: Redis: TLS, ACL users, Sentinel)"
        )
    if isinstance(exc, MasterNotFoundError) and "AuthenticationError" in str(exc):
        # redis-py names each sentinel's error by type in the message
        return "the sentinels refused the password (PUSHR_RELAY_REDIS_SENTINEL_PASSWORD)"
    if isinstance(exc, MasterNotFoundError):
        return (
            "no sentinel named a live master for PUSHR_RELAY_REDIS_SENTINEL_MASTER "
            "(sentinels unreachable, a wrong name or password, or a failover under way)"
        )
    if isinstance(exc, ReadOnlyError):
        return "the server is a read-only replica (a failover under way, or a replica's URL)"
    if isinstance(exc, BusyLoadingError):
        return "Redis is loading its data set"
    if isinstance(exc, UnconfirmedWriteError):
        return f"writes not confirmed by replicas: {exc} (PUSHR_RELAY_REDIS_WAIT_REPLICAS)"
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return "no answer in time"
    if isinstance(exc, RedisConnectionError) and (
        _cause(exc, ConnectionResetError) or str(exc) == "Connection closed by server."
    ):
        return (
            "the server closed the connection; if it keeps doing so: a redis:// URL on a TLS "
            "port, or a server that requires a client certificate (PUSHR_RELAY_REDIS_CERT_FILE)"
        )
    if isinstance(exc, RedisConnectionError):
        # redis-py's own text: the address and the socket error, no credentials
        return f"cannot connect: {exc}"
    if isinstance(exc, ResponseError):
        return f"Redis refused a command ({type(exc).__name__})"
    return type(exc).__name__


def _asks_for_credentials(exc: BaseException) -> bool:
    # Matched, never repeated: the replies of a server that wants credentials first.
    text = str(exc)
    return isinstance(exc, AuthorizationError | AuthenticationError | ResponseError) and (
        text.startswith("NOAUTH")
        or "Authentication required" in text
        or "HELLO must be called with the client already authenticated" in text
    )


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connection error (redis-py raises it in its place)."""
    return _cause(exc, ssl.SSLError)


def _cause(exc: BaseException, kind: type[_E]) -> _E | None:
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; the bound only guards against a cycle
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
