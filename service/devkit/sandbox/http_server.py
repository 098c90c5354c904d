"""The listening side: start, close for an outage, reopen on the same port, stop; plain HTTP
or HTTPS (the same server behind asyncio's TLS transport)."""

from __future__ import annotations

import asyncio
import ssl

from service.devkit.sandbox.connection import Connection
from service.devkit.sandbox.wire import Dispatch, Sleep


class HttpServer:
    def __init__(self, dispatch: Dispatch, sleep: Sleep, tls: ssl.SSLContext | None = None) -> None:
        self.dispatch = dispatch
        self.sleep = sleep
        self.tls = tls  # None: plain HTTP, the fast path
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def listen(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: Connection(self), host, port, reuse_address=True, backlog=1024, ssl=self.tls
        )
        self._server = server
        self.host = host
        self.port = server.sockets[0].getsockname()[1]
        return self.port

    def close_listener(self, drop_connections: bool = True) -> None:
        """Refuse new connections (and end open ones): clients see connection refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if drop_connections:
            for conn in list(self.connections):
                conn.abort()

    async def reopen(self) -> None:
        if self._server is None:
            await self.listen(self.host, self.port)

    async def close(self) -> None:
        server = self._server
        self.close_listener()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()
