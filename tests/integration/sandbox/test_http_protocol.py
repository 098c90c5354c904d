"""HTTP/1.1 details of the sandbox's own server: pipelining, keep-alive, bad input."""

import socket
from collections.abc import Callable
from typing import Any

import orjson

from service.devkit.sandbox import RunningSandbox, responses
from service.devkit.sandbox.wire import MAX_BODY

Body = Callable[..., dict[str, Any]]


def request(body: dict[str, Any], extra: bytes = b"") -> bytes:
    payload = orjson.dumps(body)
    return (
        b"POST /api/client/sms/send-sms HTTP/1.1\r\nHost: sandbox\r\n"
        b"Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
        % (extra, len(payload), payload)
    )


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_pipelined_requests_in_one_packet(sandbox: RunningSandbox, demo_send_body: Body) -> None:
    batch = b"".join(request(demo_send_body(message=f"m{i}")) for i in range(5))
    last = request(demo_send_body(message="last"), b"Connection: close\r\n")
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2) as s:
        s.sendall(batch + last)
        received = read_all(s)  # the server closes after the `Connection: close` one
    answers = received.split(b"HTTP/1.1 201 Created")[1:]
    assert len(answers) == 6
    assert b"Connection: close" in answers[-1]
    messages = [orjson.loads(a.split(b"\r\n\r\n", 1)[1])["message"] for a in answers]
    assert messages == ["m0", "m1", "m2", "m3", "m4", "last"]


def test_request_split_across_packets(sandbox: RunningSandbox, demo_send_body: Body) -> None:
    raw = request(demo_send_body(), b"Connection: close\r\n")
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2) as s:
        for i in range(0, len(raw), 7):
            s.sendall(raw[i : i + 7])
        assert read_all(s).startswith(b"HTTP/1.1 201 Created\r\n")


def test_chunked_body_and_expect_continue(sandbox: RunningSandbox, demo_send_body: Body) -> None:
    payload = orjson.dumps(demo_send_body())
    head = (
        b"POST /api/client/sms/send-sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2) as s:
        s.sendall(head)
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        assert read_all(s).startswith(b"HTTP/1.1 201 Created\r\n")


def test_malformed_request_gets_400_and_close(sandbox: RunningSandbox) -> None:
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_oversized_body_gets_413_and_close(sandbox: RunningSandbox) -> None:
    head = (
        b"POST /api/client/sms/send-sms HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
    )
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2) as s:
        s.sendall(head)  # answered on the headers, before any body arrives
        assert read_all(s).startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")


def test_oversized_chunked_body_is_refused(sandbox: RunningSandbox) -> None:
    head = (
        b"POST /api/client/sms/send-sms HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (MAX_BODY + 1, b" " * (MAX_BODY + 1))
    received = b""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as s:
        try:
            s.sendall(head + chunk)
            received = read_all(s)
        except (ConnectionResetError, BrokenPipeError):
            pass  # closing with unread input sends an RST, which may overtake the 413
    assert responses.TOO_LARGE_CLOSE.startswith(received)  # the 413, or part, or nothing
    assert sandbox.traffic.summary()["requests"] == 0  # never reached an endpoint
