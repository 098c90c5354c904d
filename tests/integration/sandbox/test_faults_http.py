"""Every fault kind over real sockets: what the client sees and what the sandbox recorded."""

import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from service.devkit.sandbox import RunningSandbox

Body = Callable[..., dict[str, Any]]


def send(
    client: httpx.Client, sandbox: RunningSandbox, body: dict[str, Any], timeout: float = 5.0
) -> httpx.Response:
    return client.post(f"{sandbox.url}/sms/send-sms", json=body, timeout=timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def raw_request(sandbox: RunningSandbox, body: dict[str, Any]) -> bytes:
    payload = orjson.dumps(body)
    return (
        b"POST /api/client/sms/send-sms HTTP/1.1\r\nHost: sandbox\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )


def test_fixed_and_distributed_latency(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"latency_ms": 150})
    started = time.monotonic()
    assert send(client, sandbox, demo_send_body()).status_code == 201
    assert time.monotonic() - started >= 0.145
    sandbox.set_faults({"latency_ms": {"dist": "uniform", "min_ms": 60, "max_ms": 80}})
    started = time.monotonic()
    assert send(client, sandbox, demo_send_body()).status_code == 201
    assert time.monotonic() - started >= 0.059
    sandbox.set_faults({"latency_ms": 1000})
    started = time.monotonic()
    assert client.get(f"{sandbox.base_url}/_sandbox/health").status_code == 200
    assert time.monotonic() - started < 0.5  # admin is never slowed


@pytest.mark.parametrize(
    ("status", "content_type", "marker"),
    [
        (500, "text/html; charset=utf-8", "Server Error (500)"),
        (502, "text/html; charset=utf-8", "502 Bad Gateway"),
        (503, "text/html; charset=utf-8", "503 Service Unavailable"),
        (504, "text/html; charset=utf-8", "504 Gateway Timeout"),
        (429, "application/json", "Request was throttled."),
    ],
)
def test_injected_errors_are_not_processed(
    client: httpx.Client,
    sandbox: RunningSandbox,
    demo_send_body: Body,
    status: int,
    content_type: str,
    marker: str,
) -> None:
    sandbox.set_faults({"sequence": [str(status)], "retry_after_s": 2})
    r = send(client, sandbox, demo_send_body())
    assert r.status_code == status
    assert r.headers["content-type"] == content_type
    assert marker in r.text
    if status == 429:
        assert r.headers["Retry-After"] == "2"
        assert r.json() == {"detail": "Request was throttled. Expected available in 2 seconds."}
    assert sandbox.traffic.accepted_sends == 0
    assert sandbox.state.accounts.balance(1) == "1000000.00"
    (record,) = sandbox.traffic.requests()
    assert (record.status, record.outcome, record.fault) == (status, "fault", str(status))
    assert send(client, sandbox, demo_send_body()).status_code == 201  # sequence used up


def test_error_rates_apply_only_to_chosen_endpoints(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"error_rates": {"502": 1.0}, "endpoints": ["list"]})
    assert send(client, sandbox, demo_send_body()).status_code == 201
    r = client.get(
        f"{sandbox.url}/sms/?business=1",
        headers={"Authorization": f"Bearer {sandbox.issue_token()}"},
    )
    assert r.status_code == 502
    sandbox.set_faults({"error_rates": {"503": 0.5}})
    codes = [send(client, sandbox, demo_send_body()).status_code for _ in range(40)]
    assert {201, 503} == set(codes)
    summary = sandbox.traffic.summary()["by_endpoint"]["send-sms"]
    assert summary["fault:503"] == codes.count(503)
    assert summary["accepted"] == codes.count(201) + 1


def test_rate_limit_answers_429_with_retry_after(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"rate_limit_rps": 2, "rate_limit_burst": 3})
    codes = [send(client, sandbox, demo_send_body()) for _ in range(4)]
    assert [r.status_code for r in codes] == [201, 201, 201, 429]
    assert codes[3].headers["Retry-After"] == "1"
    assert sandbox.traffic.summary()["by_endpoint"]["send-sms"]["rate_limited:429"] == 1
    assert client.get(f"{sandbox.base_url}/_sandbox/traffic").status_code == 200
    time.sleep(0.55)
    assert send(client, sandbox, demo_send_body()).status_code == 201


def test_outage_refuses_connections_then_reopens_on_the_same_port(
    sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    with httpx.Client(timeout=2) as client:
        assert send(client, sandbox, demo_send_body()).status_code == 201
        # longer than the test: it is ended by hand, so a busy machine cannot outlast it
        sandbox.outage(60.0)
        assert not sandbox.listening
        with pytest.raises(httpx.ConnectError):  # the pooled connection was dropped too
            send(client, sandbox, demo_send_body())
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", sandbox.port))
        sandbox.end_outages()
        wait_until(lambda: sandbox.listening)
        assert send(client, sandbox, demo_send_body()).status_code == 201


def test_outage_windows_from_config_and_admin(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    # a window long enough to be seen between polls on a busy machine, that ends by itself
    sandbox.set_faults({"outages": [{"start_s": 0.1, "duration_s": 1.0}]})
    assert sandbox.listening
    wait_until(lambda: not sandbox.listening)
    wait_until(lambda: sandbox.listening)
    with httpx.Client(timeout=2) as admin:
        r = admin.post(f"{sandbox.base_url}/_sandbox/outage", json={"duration_s": 60.0})
        assert r.json()["status"] == "scheduled"
    wait_until(lambda: not sandbox.listening)
    with pytest.raises(httpx.ConnectError):
        send(client, sandbox, demo_send_body())
    sandbox.end_outages()
    wait_until(lambda: sandbox.listening)
    assert send(client, sandbox, demo_send_body()).status_code == 201


def test_hang_reads_the_request_and_never_answers(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"sequence": ["hang"]})
    with pytest.raises(httpx.ReadTimeout):
        send(client, sandbox, demo_send_body(), timeout=0.3)
    assert sandbox.traffic.accepted_sends == 0  # not processed
    (record,) = sandbox.traffic.requests()
    assert (record.status, record.fault) == (None, "hang")
    assert send(client, sandbox, demo_send_body()).status_code == 201


def test_hang_with_a_limit_closes_without_an_answer(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"sequence": ["hang"], "hang_s": 0.1})
    with pytest.raises(httpx.RemoteProtocolError):
        send(client, sandbox, demo_send_body(), timeout=2)


def test_reset_mid_response_after_processing(sandbox: RunningSandbox, demo_send_body: Body) -> None:
    sandbox.set_faults({"sequence": ["reset"]})
    received = b""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2) as s:
        s.sendall(raw_request(sandbox, demo_send_body()))
        with pytest.raises(ConnectionResetError):  # noqa: PT012 - read until the RST
            while chunk := s.recv(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 201 Created\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length")).split(b":")[1]
    )
    assert 0 < len(body) < length  # part of the answer, then the reset
    assert sandbox.traffic.accepted_sends == 2  # processed and charged
    assert sandbox.state.accounts.balance(1) == "999999.94"
    (record,) = sandbox.traffic.accepted_requests()
    assert (record.status, record.fault) == (None, "reset")


def test_reset_seen_by_httpx(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"reset_rate": 1.0})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        send(client, sandbox, demo_send_body())


def test_late_answer_is_processed_before_the_client_gives_up(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"sequence": ["late"], "late_delay_s": 0.5})
    body = demo_send_body(recipients=["233558544343"])
    with pytest.raises(httpx.ReadTimeout):
        send(client, sandbox, body, timeout=0.2)
    # The client cannot know; the sandbox does: the SMS left, and it was charged.
    assert sandbox.traffic.sends_for("233558544343", body["message"]) == 1
    assert sandbox.state.accounts.balance(1) == "999999.97"
    (record,) = sandbox.traffic.accepted_requests()
    assert record.fault == "late"
    # A naive retry sends it twice, and the traffic record proves it.
    assert send(client, sandbox, body).status_code == 201
    assert [tuple(d) for d in sandbox.traffic.duplicate_sends()] == [
        (body["message"], "233558544343", 2)
    ]


def test_late_answer_does_arrive_for_a_patient_client(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"late_rate": 1.0, "late_delay_s": 0.2})
    started = time.monotonic()
    r = send(client, sandbox, demo_send_body(), timeout=2)
    assert r.status_code == 201
    assert time.monotonic() - started >= 0.19


def test_admin_endpoints_are_never_faulted(client: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.set_faults({"error_rates": {"503": 0.5}, "hang_rate": 0.5, "rate_limit_rps": 1})
    for _ in range(10):
        assert client.get(f"{sandbox.base_url}/_sandbox/health").status_code == 200
    assert sandbox.traffic.summary()["requests"] == 0


def test_pipelined_requests_are_answered_in_order_behind_a_slow_one(
    sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    sandbox.set_faults({"sequence": ["late"], "late_delay_s": 0.2})
    requests = b"".join(raw_request(sandbox, demo_send_body(message=f"p{i}")) for i in range(3))
    received = b""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=2) as s:
        s.sendall(requests)
        while received.count(b"HTTP/1.1 201") < 3 or not received.endswith(b"}"):
            received += s.recv(65536)
    ids = [
        orjson.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1")[0])["id"]
        for part in received.split(b"HTTP/1.1 201 Created")[1:]
    ]
    assert ids == [1, 2, 3]


def test_faults_via_the_admin_endpoint(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    base = f"{sandbox.base_url}/_sandbox/faults"
    r = client.post(base, json={"sequence": ["500"], "latency_ms": "uniform:1:2"})
    assert r.status_code == 200
    assert r.json()["latency_ms"] == {"dist": "uniform", "min_ms": 1.0, "max_ms": 2.0}
    assert client.get(base).json()["sequence"] == ["500"]
    assert send(client, sandbox, demo_send_body()).status_code == 500
    r = client.post(base, json={"error_rates": {"418": 1}})
    assert r.status_code == 400
    assert "418" in r.json()["detail"]
    assert client.post(base, json={}).json()["error_rates"] == {}
