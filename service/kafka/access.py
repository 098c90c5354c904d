"""One connection before the clients start, so that a broker refusing the relay's credentials
or certificates ends start-up with one line naming the setting to fix.

Left to themselves, aiokafka's clients report a refused login as "Unable to bootstrap" after
logging the cause, and later reconnect in a loop. A broker that does not answer at all is not
a refusal: `check_kafka_access` then returns, and the clients behave as they always have.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import httpx
from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from service.configuration import ConfigurationError
from service.kafka.security import KafkaClientSecurity, KafkaSecurity

_ENV = "PUSHR_RELAY_KAFKA_"
_TIMEOUT_S = 15.0
# TLS alerts a broker sends when it refuses the client certificate (Java says "unknown")
_CLIENT_CERT_ALERTS = ("CERTIFICATE_UNKNOWN", "BAD_CERTIFICATE", "CERTIFICATE_EXPIRED",
                       "UNKNOWN_CA", "CERTIFICATE_REQUIRED", "CERTIFICATE_REVOKED")  # fmt: skip

# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED
_DATE_ERRORS = (9, 10)


class KafkaAccessError(ConfigurationError):
    """The broker answered and refused these security settings."""


async def check_kafka_access(bootstrap_servers: str, client: KafkaClientSecurity) -> None:
    """Connect (and log in) to the first bootstrap broker that answers; raise
    `KafkaAccessError` when it refuses, return when it accepts or none answers."""
    for host, port in _addresses(bootstrap_servers):
        try:
            async with asyncio.timeout(_TIMEOUT_S):
                conn = await create_conn(
                    host, port, request_timeout_ms=int(_TIMEOUT_S * 1000), **client.options()
                )
        except (OSError, KafkaError, TimeoutError, httpx.HTTPError) as exc:
            where = f"{host}:{port}"
            problem = refusal(exc, client.security, where)
            hung_up = _tls_cut_short(exc) if client.ssl_context else _hung_up(exc)
            if problem is None and hung_up:
                problem = await _other_protocol(host, port, client.security, where)
            if problem is None:
                continue  # nothing said about the settings: the next broker may answer
            raise KafkaAccessError(problem) from None
        conn.close()
        return


def refusal(exc: BaseException, security: KafkaSecurity, where: str) -> str | None:
    """What a failed connection says about the settings, as one line; None when it says
    nothing about them (refused TCP connection, timeout)."""
    mechanism = security.sasl_mechanism
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            f"the Kafka broker at {where} rejected SASL user {security.sasl_username!r} "
            f"({mechanism}): check {_ENV}SASL_USERNAME and {_ENV}SASL_PASSWORD"
        )
    if isinstance(exc, IllegalSaslStateError):
        instead = "SSL" if security.protocol == "SASL_SSL" else "PLAINTEXT"
        return (
            f"the Kafka broker at {where} has no SASL on this listener, so not "
            f"{_ENV}SECURITY_PROTOCOL={security.protocol}: use {instead}"
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return f"the Kafka broker at {where} does not offer {_ENV}SASL_MECHANISM={mechanism}"
    if isinstance(exc, httpx.HTTPError):
        return f"cannot reach the OAuth token endpoint {security.oauth_token_url}: {exc}"
    tls = next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return (
            f"the Kafka broker's certificate at {where} is not trusted "
            f"({tls.verify_message}): check {_ENV}SSL_CAFILE"
        )
    if tls is not None and any(alert in str(tls.reason) for alert in _CLIENT_CERT_ALERTS):
        return _client_certificate_refused(security, where)
    if tls is not None and not isinstance(tls, ssl.SSLEOFError):
        return (
            f"TLS with the Kafka broker at {where} failed ({tls.reason or tls}): does its "
            f"listener speak {_ENV}SECURITY_PROTOCOL={security.protocol}?"
        )
    if isinstance(exc, KafkaError) and not isinstance(exc, KafkaConnectionError):
        return f"the Kafka broker at {where} refused the connection: {exc}"
    return None


def _hung_up(exc: BaseException) -> bool:
    """The broker took the connection, then closed it on the first request."""
    return isinstance(exc, KafkaConnectionError) and "closed" in str(exc)


def _tls_cut_short(exc: BaseException) -> bool:
    """The TLS handshake ended by a reset or an early end of stream."""
    return any(isinstance(e, ssl.SSLEOFError | ConnectionResetError) for e in _chain(exc))


async def _other_protocol(host: str, port: int, security: KafkaSecurity, where: str) -> str | None:
    """A refusal when the listener that hung up answers the other protocol: TLS after a
    plaintext request, plaintext Kafka after a TLS handshake. A broker that is restarting
    hangs up too, but answers neither, and gets no verdict."""
    tls = security.protocol in ("SSL", "SASL_SSL")
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            if tls:
                conn = await create_conn(host, port, request_timeout_ms=int(_TIMEOUT_S * 1000))
                conn.close()
            else:
                probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                probe.check_hostname = False
                probe.verify_mode = ssl.CERT_NONE  # only "is it TLS?" is asked; nothing is sent
                _reader, writer = await asyncio.open_connection(host, port, ssl=probe)
                writer.close()
    except (OSError, KafkaError, TimeoutError):
        return None
    if tls:
        instead = "SASL_PLAINTEXT" if security.protocol == "SASL_SSL" else "PLAINTEXT"
        return (
            f"the Kafka broker at {where} does not speak TLS, so not {_ENV}SECURITY_PROTOCOL="
            f"{security.protocol}: use {instead}"
        )
    instead = "SASL_SSL" if security.protocol == "SASL_PLAINTEXT" else "SSL or SASL_SSL"
    return (
        f"the Kafka broker at {where} expects TLS, not {_ENV}SECURITY_PROTOCOL="
        f"{security.protocol}: use {instead}"
    )


def _client_certificate_refused(security: KafkaSecurity, where: str) -> str:
    if security.ssl_certfile is None:
        return f"the Kafka broker at {where} requires a client certificate: set {_ENV}SSL_CERTFILE"
    reason = _local_verdict(security) or "not signed by a CA the broker trusts"
    return (
        f"the Kafka broker at {where} refused the client certificate "
        f"{_ENV}SSL_CERTFILE={security.ssl_certfile}: {reason}"
    )


def _local_verdict(security: KafkaSecurity) -> str | None:
    """Why the client certificate fails verification against `SSL_CAFILE` (e.g. "certificate
    has expired"), found by an in-memory TLS handshake; None when it passes or cannot tell."""
    try:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.verify_mode = ssl.CERT_REQUIRED
        server.load_verify_locations(cafile=security.ssl_cafile)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        key_password = security.ssl_key_password
        for context in (server, client):  # the server needs a certificate too: any will do
            context.load_cert_chain(
                security.ssl_certfile,  # type: ignore[arg-type]  # set when called
                security.ssl_keyfile,
                key_password.get_secret_value() if key_password else "",
            )
        _handshake(server, client)
    except ssl.SSLCertVerificationError as exc:
        # a date says it all; other verdicts are about our CA file, not the broker's
        return str(exc.verify_message) if exc.verify_code in _DATE_ERRORS else None
    except (ssl.SSLError, OSError):
        return None
    return None


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_end = server.wrap_bio(to_server, to_client, server_side=True)
    client_end = client.wrap_bio(to_client, to_server, server_side=False)
    done = {"server": False, "client": False}
    for _ in range(10):  # a TLS 1.3 handshake takes two round trips
        for name, end in (("client", client_end), ("server", server_end)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        if all(done.values()):
            return


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _addresses(bootstrap_servers: str) -> Iterator[tuple[str, int]]:
    for entry in bootstrap_servers.split(","):
        host, _, port = entry.strip().rpartition(":")
        if host and port.isdigit():
            yield host.strip("[]"), int(port)
