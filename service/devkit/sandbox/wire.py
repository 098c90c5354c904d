"""What passes between the HTTP layer and the endpoints: requests in, bytes or a fault out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

MAX_BODY = 10 * 1024 * 1024


class Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "url")

    def __init__(
        self, method: bytes, url: bytes, headers: dict[bytes, bytes], body: bytes, keep_alive: bool
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class Deferred(NamedTuple):
    kind: str  # respond | hang | reset
    response: bytes | None = None
    delay_s: float = 0.0
    hang_s: float | None = None  # hang: None waits until the client goes


Dispatch = Callable[[Request], "bytes | Deferred"]
Sleep = Callable[[float], Awaitable[None]]


def closing(response: bytes) -> bytes:
    """The response with `Connection: close` (the client asked for it; rare, so copying is ok)."""
    if b"\r\nConnection: close\r\n" in response.partition(b"\r\n\r\n")[0] + b"\r\n":
        return response
    return response.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
