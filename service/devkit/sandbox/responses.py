"""HTTP/1.1 responses as bytes, with the status line and fixed headers precomputed.

Error pages of injected faults look like the real stack's: Django's HTML 500 page, nginx's
HTML 502/503/504 pages, DRF's JSON 429 — so a client that assumes JSON bodies on errors
finds out here rather than in production.
"""

from __future__ import annotations

from typing import Any

import orjson

REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

JSON = b"application/json"
HTML = b"text/html; charset=utf-8"
SERVER = b"Server: pushr-sandbox\r\n"

_heads: dict[tuple[int, bytes], bytes] = {}


def _head(status: int, content_type: bytes) -> bytes:
    head = _heads.get((status, content_type))
    if head is None:
        reason = REASONS.get(status, "Unknown").encode()
        head = b"HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: " % (
            status,
            reason,
            SERVER,
            content_type,
        )
        _heads[(status, content_type)] = head
    return head


def raw(
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: bytes = b"",
    close: bool = False,
) -> bytes:
    """A whole response; `headers` are extra `Name: value\\r\\n` lines."""
    connection = b"Connection: close\r\n" if close else b""
    return b"%s%d\r\n%s%s\r\n%s" % (
        _head(status, content_type),
        len(body),
        headers,
        connection,
        body,
    )


def json(status: int, payload: Any, headers: bytes = b"") -> bytes:
    return raw(status, orjson.dumps(payload), JSON, headers)


def detail(status: int, message: str, headers: bytes = b"") -> bytes:
    return json(status, {"detail": message}, headers)


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
BAD_REQUEST_CLOSE = raw(400, b'{"detail":"Malformed HTTP request."}', close=True)
TOO_LARGE_CLOSE = raw(413, b'{"detail":"Request body too large."}', close=True)

_DJANGO_500 = (
    b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n'
    b"</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n"
)


def _nginx(status: int) -> bytes:
    title = f"{status} {REASONS[status]}".encode()
    return (
        b"<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n"
        b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n" % (title, title)
    )


def throttled(retry_after: int) -> bytes:
    unit = "second" if retry_after == 1 else "seconds"
    return detail(
        429,
        f"Request was throttled. Expected available in {retry_after} {unit}.",
        b"Retry-After: %d\r\n" % retry_after,
    )


def injected_error(status: int, retry_after: int | None = None) -> bytes:
    if status == 429:
        return throttled(retry_after or 1)
    if status == 500:
        return raw(500, _DJANGO_500, HTML)
    return raw(status, _nginx(status), HTML)
