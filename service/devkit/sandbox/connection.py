"""One HTTP/1.1 connection: asyncio Protocol + httptools, keep-alive and pipelining-safe.

The endpoints are synchronous functions returning the whole response as bytes, written at
once; only faults need time, so a `Deferred` answer runs as a task and any requests
pipelined behind it wait in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from service.devkit.sandbox import responses
from service.devkit.sandbox.wire import MAX_BODY, Deferred, Request, closing

if TYPE_CHECKING:
    from service.devkit.sandbox.http_server import HttpServer


RESET_FLUSH_S = 0.02  # let the partial answer reach the peer before the RST overtakes it


class Connection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_closing",
        "_headers",
        "_parser",
        "_queue",
        "_server",
        "_size",
        "_task",
        "_too_large",
        "_transport",
        "_url",
    )

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False
        self._queue: deque[Request] | None = None  # not None while a Deferred runs
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    # ---- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, though they implement it.
        self._transport = cast("asyncio.Transport", transport)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._server.connections.discard(self)
        if self._task is not None:
            self._task.cancel()  # a late answer or a hang has nobody left to answer

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close()
        except httptools.HttpParserError:
            self._write(responses.BAD_REQUEST_CLOSE)
            self._close()

    # ---- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        length = self._headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            # Answer now rather than read megabytes we will not use.
            self._too_large = True
            self._write(responses.TOO_LARGE_CLOSE)
            self._close()
        elif self._queue is None and self._headers.get(b"expect", b"").lower() == b"100-continue":
            # Behind a pipelined request still being answered, a 100 would arrive out of turn.
            self._write(responses.CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._body.append(body)
        self._size += len(body)
        if self._size > MAX_BODY:  # chunked bodies announce no length
            self._too_large = True
            self._write(responses.TOO_LARGE_CLOSE)
            self._close()

    def on_message_complete(self) -> None:
        if self._closing:
            return
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(
            self._parser.get_method(),
            self._url,
            self._headers,
            body,
            self._parser.should_keep_alive(),
        )
        if self._queue is not None:
            self._queue.append(request)
            return
        out = self._server.dispatch(request)
        if out.__class__ is bytes:
            if request.keep_alive:
                self._write(out)
            else:
                self._write(closing(out))
                self._close()
            return
        self._queue = deque()
        task = asyncio.get_running_loop().create_task(self._drain(out, request.keep_alive))
        self._task = task
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    # ---- deferred answers ----------------------------------------------------------------

    async def _drain(self, out: bytes | Deferred, keep_alive: bool) -> None:
        """Answer `out`, then whatever was pipelined behind it, in order."""
        while True:
            if isinstance(out, Deferred):
                if not keep_alive and out.response is not None:
                    out = out._replace(response=closing(out.response))
                if not await self._deferred(out):
                    return
            else:
                self._write(out if keep_alive else closing(out))
            if not keep_alive or self._closing:
                self._close()
                return
            if not self._queue:
                self._queue = None
                return
            request = self._queue.popleft()
            keep_alive = request.keep_alive
            out = self._server.dispatch(request)

    async def _deferred(self, out: Deferred) -> bool:
        """Run a fault; False when the connection is finished with."""
        if out.delay_s > 0:
            await self._server.sleep(out.delay_s)
        if self._closing:
            return False
        if out.kind == "hang":
            if out.hang_s is None:
                await asyncio.get_running_loop().create_future()  # until cancelled
            await self._server.sleep(out.hang_s or 0.0)
            self._close()
            return False
        assert out.response is not None
        if out.kind == "reset":
            head_end = out.response.find(b"\r\n\r\n") + 4
            self._write(out.response[: head_end + max(1, (len(out.response) - head_end) // 2)])
            await asyncio.sleep(RESET_FLUSH_S)
            self.reset()
            return False
        self._write(out.response)
        return True

    # ---- transport helpers ---------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(data)

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def reset(self) -> None:
        """Close with a TCP RST: SO_LINGER with a zero timeout, then close."""
        if self._transport is None:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.abort()
