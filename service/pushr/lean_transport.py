"""A lean HTTP/1.1 transport under httpx's API: kept-alive connections from a bounded pool,
each request written in one buffer, answers parsed by llhttp (`httptools`).

The relay sends one small request at a time per connection to one host and reads every
answer whole, so it needs none of the layers a general client keeps for streaming,
redirects and cookies. Errors keep `service.pushr.transport`'s contract: retry-safe only
before the first byte is written (PoolTimeout, ConnectTimeout, ConnectError, TLS included);
after it, ambiguous: WriteTimeout (not written in time), ReadTimeout (no byte of the answer
in time), RemoteProtocolError (closed before the answer was whole, or not HTTP/1.1),
ReadError (reset, other socket errors).

A connection is reused only after a whole answer that allows keep-alive; a cancelled or
failed exchange closes its connection, so no later request reads an old answer. Idle
connections past the keep-alive expiry, or closed by the server, are dropped before a
request would be written to them.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, cast

import httptools
import httpx

_DEFAULT_PORTS = {b"http": 80, b"https": 443}


class _Connection(asyncio.Protocol):
    """One socket and the answer being read on it (at most one at a time)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self.last_data = 0.0
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._headers_done = False
        self._framed = False  # Content-Length or chunked: the end is not the close
        self.keep_alive = False
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not always an asyncio.Transport (uvloop has its own)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.last_data = self._loop.time()
        if self._done is None or self._done.done():
            # Nothing was asked: a server speaking out of turn cannot be trusted again.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP answer: {exc}"), exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)  # the exchange learns the loss from `_done`
        if self._done is None or self._done.done():
            return
        if exc is None and self._headers_done and not self._framed:
            self._done.set_result(None)  # an answer delimited by the close
        elif exc is None:
            self._fail(httpx.RemoteProtocolError("server disconnected before answering"), None)
        else:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__), exc)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered in {b"content-length", b"transfer-encoding"}:
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self.status = self._parser.get_status_code()
        if self.status in (204, 304):
            self._framed = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._framed and self._parser.should_keep_alive()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _fail(self, error: httpx.TransportError, cause: BaseException | None) -> None:
        error.__cause__ = cause
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)
        self.close()

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()

    async def exchange(
        self, request: httpx.Request, data: bytes, timeouts: dict[str, Any]
    ) -> bytes:
        """Writes `data` (the whole request) and returns the answer's body; status, reason
        and headers are left on the connection."""
        assert self.transport is not None
        self._done = done = self._loop.create_future()
        self._headers_done = self._framed = self.keep_alive = False
        self.status, self.reason, self.headers, self._body = 0, b"", [], []
        self.transport.write(data)
        timer = None
        try:
            if self._paused and not self.lost:
                await self._drain(request, timeouts.get("write"))
            read = timeouts.get("read")
            if read is not None:
                self.last_data = self._loop.time()
                timer = self._loop.call_at(self.last_data + read, self._check_read, request, read)
            await done
        finally:  # whatever ends the exchange, a late answer or loss finds nobody waiting
            if timer is not None:
                timer.cancel()
            self._done = None
        return b"".join(self._body)

    async def _drain(self, request: httpx.Request, write: float | None) -> None:
        self._drained = self._loop.create_future()
        try:
            async with asyncio.timeout(write):
                await self._drained
        except TimeoutError as exc:
            self.close()
            raise httpx.WriteTimeout("request not written in time", request=request) from exc

    def _check_read(self, request: httpx.Request, read: float) -> None:
        """The read timeout counts from the last byte received, as httpx's does."""
        if self._done is None or self._done.done():
            return
        deadline = self.last_data + read
        if deadline > self._loop.time():
            self._loop.call_at(deadline, self._check_read, request, read)
            return
        self._fail(httpx.ReadTimeout("no answer in time", request=request), None)


class _Pool:
    """The connections to one origin, at most `limit` of them open at once."""

    def __init__(
        self, origin: tuple[bytes, str, int], tls: ssl.SSLContext | None, limit: int, expiry: float
    ) -> None:
        self._scheme, self._host, self._port = origin
        self._tls = tls
        self._expiry = expiry
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self.closed = False

    async def send(self, request: httpx.Request, data: bytes) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        if self._slots.locked():
            try:
                async with asyncio.timeout(timeouts.get("pool")):
                    await self._slots.acquire()
            except TimeoutError as exc:
                raise httpx.PoolTimeout("no free connection in time", request=request) from exc
        else:
            await self._slots.acquire()  # free: returns without suspending
        connection: _Connection | None = None
        try:
            connection = self._take_idle()
            if connection is None:
                connection = await self._connect(request, timeouts.get("connect"))
            body = await connection.exchange(request, data, timeouts)
        except BaseException:
            if connection is not None:
                connection.close()
            self._slots.release()
            raise
        if connection.keep_alive and not connection.lost and not self.closed:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if connection.reason:
            extensions["reason_phrase"] = connection.reason
        return httpx.Response(
            status_code=connection.status,
            headers=connection.headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )

    def _take_idle(self) -> _Connection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely closed
            if not connection.lost and now - connection.idle_since < self._expiry:
                return connection
            connection.close()
        return None

    async def _connect(self, request: httpx.Request, seconds: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(loop)
        tls: dict[str, Any] = {}
        if self._scheme == b"https":
            sni = request.extensions.get("sni_hostname")
            tls = {"ssl": self._tls, "server_hostname": sni or self._host}
        try:
            async with asyncio.timeout(seconds):
                await loop.create_connection(lambda: connection, self._host, self._port, **tls)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("connect not done in time", request=request) from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return connection

    def close(self) -> None:
        self.closed = True
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class LeanTransport(httpx.AsyncBaseTransport):
    """httpx transport for the relay's Push.R traffic; no proxy (`build_http_client` uses the
    aiohttp transport when one is configured)."""

    def __init__(
        self, *, tls: ssl.SSLContext | None, max_connections: int, keepalive_expiry: float
    ) -> None:
        self._tls = tls
        self._limit = max_connections
        self._expiry = keepalive_expiry
        self._pools: dict[tuple[bytes, str, int], _Pool] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        origin = (scheme, url.host, url.port or _DEFAULT_PORTS.get(scheme, 80))
        pool = self._pools.get(origin)
        if pool is None:
            if scheme not in _DEFAULT_PORTS:
                raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}")
            if scheme == b"https" and self._tls is None:
                self._tls = httpx.create_ssl_context()  # httpx's default trust, made once
            pool = self._pools[origin] = _Pool(origin, self._tls, self._limit, self._expiry)
        return await pool.send(request, await _request_bytes(request))

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


async def _request_bytes(request: httpx.Request) -> bytes:
    """The request line, headers and body in one buffer. httpx has already set Host and,
    for a body given as bytes, Content-Length; a streamed body is read whole first."""
    headers = request.headers.raw
    try:
        body = request.content
    except httpx.RequestNotRead:
        body = await request.aread()
        framing = (b"content-length", b"transfer-encoding")
        headers = [(k, v) for k, v in headers if k.lower() not in framing]
        headers.append((b"Content-Length", str(len(body)).encode()))
    parts = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)
