"""Tiny misbehaving HTTP servers on 127.0.0.1:0 for the transport error tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from types import TracebackType

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Event], Awaitable[None]]

CREATED = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
HALF = (
    b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":'
)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN."""
    sock: socket.socket = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))


class RawServer:
    """Runs `behaviour(reader, writer, stop)` per connection; `stop` is set on exit so
    hanging behaviours finish, and every connection is closed before the test ends."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await self._behaviour(reader, writer, self._stop)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self._stop.set()
        for writer in self._writers:  # ends reads on kept-alive connections too
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


async def answer_201(r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    body = b'{"id": 1, "status": "sent", "recipients_count": 1}'
    while not stop.is_set():
        await read_request(r)
        w.write(CREATED % (len(body), body))
        await w.drain()


async def never_answer(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    await read_request(r)
    await stop.wait()


async def never_read(r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    await stop.wait()


async def close_without_answer(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    await read_request(r)


async def reset_without_answer(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    await read_request(r)
    reset(w)


async def half_then_close(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    await read_request(r)
    w.write(HALF)
    await w.drain()


async def half_then_reset(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    await read_request(r)
    w.write(HALF)
    await w.drain()
    await asyncio.sleep(0.05)  # let the client take the partial answer first
    reset(w)


async def answer_once_then_close(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    """Answers as if keeping the connection alive, then closes it while it is idle."""
    body = b'{"id": 1}'
    await read_request(r)
    w.write(CREATED % (len(body), body))
    await w.drain()


async def answer_chunked(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        await read_request(r)
        w.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
        w.write(b'4\r\n{"id\r\n5\r\n": 1}\r\n0\r\n\r\n')
        await w.drain()


async def answer_until_close(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, stop: asyncio.Event
) -> None:
    """An answer with neither Content-Length nor chunks: the close ends it."""
    await read_request(r)
    w.write(b'HTTP/1.1 201 Created\r\nConnection: close\r\n\r\n{"id": 1}')
    await w.drain()
