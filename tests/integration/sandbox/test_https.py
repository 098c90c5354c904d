"""The sandbox over HTTPS: served with a certificate of the run's CA, optionally requiring
client certificates, in process and as `pushr-relay sandbox --tls-cert --tls-key`."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.devkit.sandbox import DEMO_PASSWORD, DEMO_USERNAME
from tests.fixtures.tls import HttpsSandbox, TlsMaterial

ROOT = Path(__file__).resolve().parents[3]


def test_the_api_over_https_with_next_links_in_https(
    tls: TlsMaterial, https_sandbox: HttpsSandbox, demo_send_body: Any
) -> None:
    sandbox = https_sandbox(page_size=1)
    assert sandbox.base_url == f"https://127.0.0.1:{sandbox.port}"
    with httpx.Client(verify=tls.client_context(), timeout=5) as client:
        for _ in range(2):
            assert (
                client.post(f"{sandbox.url}/sms/send-sms", json=demo_send_body()).status_code == 201
            )
        tokens = client.post(
            f"{sandbox.base_url}/api/token/",
            json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
        ).json()
        page = client.get(
            f"{sandbox.url}/sms/?business=1",
            headers={"Authorization": f"Bearer {tokens['access']}"},
        ).json()
        assert page["next"] == f"{sandbox.url}/sms/?business=1&page=2"
        health = client.get(f"{sandbox.base_url}/_sandbox/health").json()
        assert health["url"] == sandbox.url


def test_plain_http_and_untrusted_clients_are_turned_away(
    tls: TlsMaterial, https_sandbox: HttpsSandbox
) -> None:
    sandbox = https_sandbox()
    plain = sandbox.base_url.replace("https://", "http://")
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.HTTPError):
        client.get(f"{plain}/_sandbox/health")
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        client.get(f"{sandbox.base_url}/_sandbox/health")  # certifi does not know the run's CA


def test_client_certificates_when_required(tls: TlsMaterial, https_sandbox: HttpsSandbox) -> None:
    sandbox = https_sandbox(client_ca=True)
    health = f"{sandbox.base_url}/_sandbox/health"
    with httpx.Client(verify=tls.client_context(with_cert=True), timeout=5) as client:
        assert client.get(health).status_code == 200
    with (
        httpx.Client(verify=tls.client_context(), timeout=5) as client,
        pytest.raises(httpx.HTTPError),
    ):
        client.get(health)
    stranger = ssl.create_default_context(cafile=str(tls.ca_file))
    stranger.load_cert_chain(tls.other_client_cert, tls.other_client_key)
    with httpx.Client(verify=stranger, timeout=5) as client, pytest.raises(httpx.HTTPError):
        client.get(health)


def test_an_outage_reopens_the_listener_with_tls(
    tls: TlsMaterial, https_sandbox: HttpsSandbox
) -> None:
    sandbox = https_sandbox()
    sandbox.outage(duration_s=0.2)
    assert wait_until(lambda: not sandbox.listening)
    assert wait_until(lambda: sandbox.listening)
    with httpx.Client(verify=tls.client_context(), timeout=5) as client:
        assert client.get(f"{sandbox.base_url}/_sandbox/health").status_code == 200


def wait_until(condition: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_command_serves_https(tls: TlsMaterial) -> None:
    command = [
        sys.executable, "-m", "service", "sandbox", "--port", "0",
        "--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key),
        "--tls-client-ca", str(tls.ca_file), "--access-token-ttl", "60",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("SANDBOX_URL=https://127.0.0.1:")
        url = line.removeprefix("SANDBOX_URL=")
        site = url.removesuffix("/api/client")
        with httpx.Client(verify=tls.client_context(with_cert=True), timeout=5) as client:
            r = client.post(
                f"{site}/_sandbox/token", json={"business": 1}
            )  # the flag's lifetime is the default one
            assert r.json()["expires_in"] == 60
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_command_names_tls_files_it_cannot_use(tmp_path: Path) -> None:
    missing = tmp_path / "missing.crt"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "sandbox",
            "--port",
            "0",
            "--tls-cert",
            str(missing),
            "--tls-key",
            str(missing),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"pushr-relay sandbox: cannot load the TLS files {missing}, {missing}: "
        "No such file or directory\n"
    )
