"""The one shared `httpx.AsyncClient` for Push.R, on the transport the settings name.

`lean` (default): `service.pushr.lean_transport`, HTTP/1.1 on asyncio with llhttp
parsing, the least CPU per request; it speaks no proxy protocol, so with a proxy
configured the aiohttp transport carries the traffic instead.
`aiohttp`: httpx's API on aiohttp's connection handling, several times the throughput of
httpx's own pool under concurrency (tests/bench/transport_compare.py).
`httpx`: httpx's own transport, kept as the reference and the fallback.

httpx-aiohttp 0.2 maps aiohttp's errors to httpx's unsafely for us: a server that
disconnects or resets *after our request was written* comes out as `ConnectTimeout`, which
reads as "never sent" and would be resent (a duplicate SMS). `MappedAiohttpTransport`
re-maps by the original aiohttp exception so both transports raise the same httpx
exceptions for the same event (tests/integration/pushr/test_transport_errors.py):

| aiohttp                                      | httpx                 | outcome    |
|----------------------------------------------|-----------------------|------------|
| ConnectionTimeoutError (pool wait + connect) | ConnectTimeout        | retry-safe |
| ClientConnectorError (refused, DNS, TLS)     | ConnectError          | retry-safe |
| ClientProxyConnectionError, proxy 4xx/5xx    | ProxyError            | retry-safe |
| SocketTimeoutError / other ServerTimeoutError| ReadTimeout           | ambiguous  |
| ServerDisconnectedError                      | RemoteProtocolError   | ambiguous  |
| ClientPayloadError                           | ReadError             | ambiguous  |
| ClientOSError, other ClientConnectionError   | ReadError             | ambiguous  |

aiohttp has no write timeout, and its read timeout starts only once the request is written,
so a stalled upload would hang. The transport bounds the whole exchange up to the response
head by pool + connect + write + read: aiohttp's own connect and read timeouts fire first in
their phases, so the bound expires only on a stalled write, raised as `WriteTimeout`
(ambiguous: part of the request left).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from multidict import CIMultiDict

from service.observability.logging import get_logger
from service.pushr.egress import load_tls, proxy_url, shown_proxy, tls_files
from service.pushr.lean_transport import LeanTransport
from service.settings import Settings

log = get_logger(__name__)

# httpx's default. Keep it below Push.R's idle keep-alive timeout: reusing a connection the
# server is closing at that moment makes a request fail after it was written (ambiguous).
KEEPALIVE_EXPIRY = 5.0

# Most specific first: the first match wins.
_AIOHTTP_TO_HTTPX: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (TimeoutError, httpx.ReadTimeout),
    (OSError, httpx.ReadError),
)


def map_aiohttp_error(exc: BaseException) -> type[httpx.TransportError] | None:
    for source, target in _AIOHTTP_TO_HTTPX:
        if isinstance(exc, source):
            return target
    return None


def _remap(exc: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx exception for `exc` (or for the aiohttp error that httpx-aiohttp wrapped
    in `exc`), its cause set to the aiohttp error; None to re-raise `exc` as it is."""
    original = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    target = map_aiohttp_error(original) if original is not None else None
    if original is None or target is None or type(exc) is target:
        return None
    remapped = target(str(original) or type(original).__name__, request=request)
    remapped.__cause__ = original
    return remapped


class MappedAiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport with error mapping that keeps "maybe sent" apart from
    "never sent", and httpx's pool timeout translated to aiohttp's terms.

    `handle_async_request` is httpx-aiohttp's, cut to what `build_http_client` configures
    and made cheaper per request, which was about half the
    service transport's CPU against raw aiohttp: timeouts built once per distinct httpx
    timeout, headers handed over as a multidict (aiohttp would re-read the httpx mapping),
    and the body read here, up front, instead of through two stream wrappers chunk by chunk.
    Every answer is read whole anyway: the client never streams (`AsyncClient.send` reads
    the body before returning), and reading it here returns the connection to the pool
    sooner."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The proxy's credentials as a header, made once: aiohttp deprecates `proxy_auth`.
        # It sends `proxy_headers` only with the CONNECT of an https request, so a plain-http
        # request carries the header itself (the proxy takes it off before forwarding).
        proxy: httpx.Proxy | None = self.proxy
        self._proxy_url = str(proxy.url) if proxy else None
        self._proxy_headers = dict(proxy.headers) if proxy else None
        self._proxy_authorization: str | None = None
        if proxy is not None and proxy.auth and self._proxy_headers is not None:
            self._proxy_authorization = aiohttp.encode_basic_auth(*proxy.auth)
            self._proxy_headers["Proxy-Authorization"] = self._proxy_authorization
        # (connect, read, write, pool) -> aiohttp timeout and the bound up to the head;
        # a client uses one or two distinct timeouts, so this stays tiny.
        self._timeouts: dict[
            tuple[float | None, ...], tuple[aiohttp.ClientTimeout, float | None]
        ] = {}

    def _timeouts_for(self, timeout: dict[str, Any]) -> tuple[aiohttp.ClientTimeout, float | None]:
        phases: tuple[float | None, ...] = (
            timeout.get("connect"),
            timeout.get("read"),
            timeout.get("write"),
            timeout.get("pool"),
        )
        known = self._timeouts.get(phases)
        if known is not None:
            return known
        connect, read, write, pool = phases
        bound = None
        if pool is not None and connect is not None:
            # aiohttp's `connect` covers waiting for a pooled connection *and* opening a
            # new one; httpx's `pool` covers only the wait. Give aiohttp both.
            if write is not None and read is not None:
                bound = pool + connect + write + read
            pool = pool + connect
        client_timeout = aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)
        if len(self._timeouts) < 64:
            self._timeouts[phases] = (client_timeout, bound)
        return client_timeout, bound

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        client_timeout, bound = self._timeouts_for(request.extensions.get("timeout", {}))
        data: bytes | httpx.AsyncByteStream | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # type: ignore[assignment]
            request.headers.pop("transfer-encoding", None)  # handled by aiohttp
        encoding = request.headers.encoding
        headers = CIMultiDict(
            (key.decode(encoding), value.decode(encoding)) for key, value in request.headers.raw
        )
        if self._proxy_authorization is not None and request.url.scheme == "http":
            headers["Proxy-Authorization"] = self._proxy_authorization
        try:
            async with asyncio.timeout(bound):
                with map_aiohttp_exceptions():
                    response = await self.client.request(
                        method=request.method,
                        url=str(request.url),
                        headers=headers,
                        data=data,
                        allow_redirects=False,
                        auto_decompress=False,
                        compress=False,
                        timeout=client_timeout,
                        server_hostname=request.extensions.get("sni_hostname"),
                        proxy=self._proxy_url,
                        proxy_headers=self._proxy_headers,
                    ).__aenter__()
        except TimeoutError as exc:
            raise httpx.WriteTimeout("request not written in time", request=request) from exc
        except Exception as exc:
            mapped = _remap(exc, request)
            if mapped is None:
                raise
            raise mapped from mapped.__cause__
        try:
            body = await response.read()  # closes the connection on failure
        except Exception as exc:
            mapped = _remap(exc, request)
            if mapped is None:
                raise
            raise mapped from mapped.__cause__
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )


class _NoCookies(httpx.Cookies):
    """A jar that never stores a cookie, so there is never one to send."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class CookielessAsyncClient(httpx.AsyncClient):
    """`httpx.AsyncClient` without a cookie jar. Push.R authenticates by keys in the body
    (or a bearer token) and needs no cookies; httpx would still run every response through
    urllib's CookieJar, a cost paid on every request for nothing.
    Cookies passed to a single request are still sent with that request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _NoCookies()


def build_http_client(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> httpx.AsyncClient:
    """The process-wide client; the caller owns it (`async with` / `aclose()`).

    TLS files and the proxy come from `service.pushr.egress`; a file that cannot be used
    raises `ConfigurationError` (one line). `environ` (default: the process's) is read only
    with `http_trust_env`."""
    timeout = httpx.Timeout(
        connect=settings.http_connect_timeout,
        read=settings.http_read_timeout,
        write=settings.http_write_timeout,
        pool=settings.http_pool_timeout,
    )
    # Keep every connection alive: all traffic goes to one host, so closing idle ones
    # only to reopen them under load costs handshakes.
    limits = httpx.Limits(
        max_connections=settings.http_max_connections,
        max_keepalive_connections=settings.http_max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    files = tls_files(settings)
    # httpx's own default trust as the base, so a CA file only adds to what is trusted today
    context = load_tls(files, httpx.create_ssl_context)
    proxy_text = proxy_url(settings, os.environ if environ is None else environ)
    options: dict[str, Any] = {"limits": limits}
    if context is not None:
        options["verify"] = context
    if proxy_text is not None:
        options["proxy"] = httpx.Proxy(proxy_text)
    if context is not None or proxy_text is not None:
        log.info(
            "pushr_http_egress",
            proxy=shown_proxy(proxy_text),
            ca_file=str(files.ca_file) if files.ca_file else None,
            client_certificate=str(files.cert_file) if files.cert_file else None,
        )
    transport: httpx.AsyncBaseTransport
    if settings.http_transport == "lean" and proxy_text is None:
        transport = LeanTransport(
            tls=context,
            max_connections=settings.http_max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
    elif settings.http_transport in ("aiohttp", "lean"):
        transport = MappedAiohttpTransport(**options)
    else:
        transport = httpx.AsyncHTTPTransport(retries=0, **options)
    # trust_env=False: with proxy variables set, httpx would route through transports
    # of its own making, bypassing the one chosen (and mapped) here; `http_trust_env`
    # reads those variables into this transport instead.
    return CookielessAsyncClient(transport=transport, timeout=timeout, trust_env=False)
