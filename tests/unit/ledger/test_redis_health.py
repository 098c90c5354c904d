"""One line per Redis outage, and reasons in words: `OutageLog` and `describe`."""

from __future__ import annotations

import io
import logging
import ssl
from collections.abc import Iterator

import orjson
import pytest
import structlog
from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ConnectionError,
    NoPermissionError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
)

from service.ledger.redis_health import OutageLog, describe
from service.ledger.redis_wait import UnconfirmedWriteError
from service.observability.logging import configure_logging

SECRET = "redis-password-4711"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, secrets=[SECRET])
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()


def events(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_an_outage_is_one_line_and_its_end_another(captured: io.StringIO) -> None:
    outage = OutageLog("ledger")
    outage.answered()  # healthy: nothing to say
    for _ in range(500):
        outage.failed(AuthenticationError("invalid username-password pair"))
    outage.answered()
    outage.answered()
    outage.failed(TimeoutError("Timeout reading from socket"))
    lines = [(e["event"], e.get("reason")) for e in events(captured)]
    assert lines == [
        ("redis_unavailable", describe(AuthenticationError())),
        ("redis_available", None),
        ("redis_unavailable", "no answer in time"),
    ]
    assert events(captured)[0]["level"] == "error"
    assert events(captured)[0]["component"] == "ledger"


def _raised_from(cause: BaseException, error: BaseException) -> BaseException:
    # as redis-py does: the socket error is the context of the ConnectionError it raises
    try:
        try:
            raise cause
        except BaseException:
            raise error from None
    except BaseException as exc:
        exc.__context__ = cause
        return exc


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (AuthenticationError("WRONGPASS x"), "authentication failed: wrong user or password"),
        (AuthenticationError("NOAUTH Authentication required."), "asks for a user and password"),
        (NoPermissionError("NOPERM no permissions"), "the ACL user may not run a command"),
        (MasterNotFoundError("No master found for 'm'"), "no sentinel named a live master"),
        (ReadOnlyError("READONLY"), "read-only replica"),
        (BusyLoadingError("LOADING"), "loading its data set"),
        (UnconfirmedWriteError(1, 0, 1000), "writes not confirmed by replicas: 0 of 1 replicas"),
        (TimeoutError("Timeout"), "no answer in time"),
        (ConnectionError("Error 111 connecting to 127.0.0.1:6380."), "cannot connect: Error 111"),
        (ResponseError(f"ERR script failed {SECRET}"), "Redis refused a command (ResponseError)"),
    ],
)
def test_reasons_say_what_to_fix(error: BaseException, says: str) -> None:
    assert says in describe(error)
    assert SECRET not in describe(error)


def test_tls_reasons_come_from_the_ssl_error_behind_the_connection_error() -> None:
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_message = "unable to get local issuer certificate"
    said = describe(_raised_from(untrusted, ConnectionError("Error 1 connecting")))
    assert said.startswith("TLS: the server's certificate is not trusted (unable to get local")
    reset = describe(_raised_from(ConnectionResetError(104, "reset"), ConnectionError("Error")))
    assert "a redis:// URL on a TLS port" in reset
    assert describe(ConnectionError("Connection closed by server.")) == reset
