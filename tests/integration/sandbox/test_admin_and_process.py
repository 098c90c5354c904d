"""The admin API over HTTP, and the sandbox as its own OS process."""

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from service.devkit.sandbox import RunningSandbox

Body = Callable[..., dict[str, Any]]
ROOT = Path(__file__).resolve().parents[3]


def test_admin_endpoints(
    client: httpx.Client, sandbox: RunningSandbox, demo_send_body: Body
) -> None:
    admin = f"{sandbox.base_url}/_sandbox"
    assert client.get(f"{admin}/health").json() == {
        "status": "ok",
        "url": sandbox.url,
        "listening": True,
    }
    for _ in range(2):
        client.post(f"{sandbox.url}/sms/send-sms", json=demo_send_body())
    client.post(f"{sandbox.url}/sms/send-sms", json=demo_send_body(api_key_secret="x"))

    traffic = client.get(f"{admin}/traffic?recent=1").json()
    assert traffic["requests"] == 3
    assert traffic["by_endpoint"] == {"send-sms": {"accepted": 2, "unauthorized": 1}}
    assert traffic["accepted_sends"] == 4
    assert traffic["recent"][0]["status"] == 401
    assert {d["recipient"] for d in traffic["duplicates"]} == {"233558544343", "233548769324"}

    sends = client.get(f"{admin}/sends").json()
    assert sends["per_recipient"] == {"233558544343": 2, "233548769324": 2}
    one = client.get(
        f"{admin}/sends",
        params={"recipient": "+233558544343", "message": "Hello! This is a test message."},
    )
    assert one.json()["count"] == 2

    assert client.get(f"{admin}/balance?business=1").json() == {
        "business": 1,
        "balance": "999999.88",
    }
    assert client.post(f"{admin}/balance", json={"business": 2, "balance": "0"}).json() == {
        "business": 2,
        "balance": "0.00",
    }
    assert (
        client.post(f"{admin}/balance", json={"business": 2, "top_up": "2.5"}).json()["balance"]
        == "2.50"
    )
    assert client.post(f"{admin}/balance", json={"business": 9, "top_up": "1"}).status_code == 404
    assert client.post(f"{admin}/balance", json={"business": 2}).status_code == 400

    state = client.get(f"{admin}/state").json()
    assert state["messages"] == {"1": 2, "2": 0, "3": 0}
    assert state["businesses"][0]["approved_sender_ids"] == ["PYWE", "PushR"]
    assert (
        client.post(f"{admin}/lifecycle", json={"sent_after_s": 1, "final_after_s": 2}).json()[
            "sent_after_s"
        ]
        == 1
    )
    assert client.post(f"{admin}/lifecycle", json={"bogus": 1}).status_code == 400

    assert client.post(f"{admin}/reset").json() == {"status": "reset"}
    assert client.get(f"{admin}/traffic").json()["requests"] == 0
    assert client.get(f"{admin}/balance?business=2").json()["balance"] == "1.00"
    assert sandbox.state.lifecycle.sent_after_s == 0

    assert client.get(f"{admin}/nope").status_code == 404
    assert client.get(f"{admin}/reset").status_code == 405
    assert client.post(f"{admin}/faults", content=b"[1]").status_code == 400
    assert client.post(f"{admin}/faults", content=b"{").status_code == 400


def test_sandbox_as_a_separate_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "sandbox", "--port", "0", "--seed", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("SANDBOX_URL=http://127.0.0.1:")
        url = line.removeprefix("SANDBOX_URL=")
        assert url.endswith("/api/client")
        with httpx.Client(timeout=5) as client:
            r = client.get(url.removesuffix("/api/client") + "/_sandbox/health")
            assert r.json()["url"] == url
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
