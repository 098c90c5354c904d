"""The relay's Push.R client over HTTPS and through a forward proxy, on EVERY transport,
against real servers: the sandbox served over TLS with a CA made for the run (and requiring
client certificates), and Debian's tinyproxy on loopback."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from service.clock import SystemClock
from service.devkit.sandbox import RunningSandbox
from service.devkit.sandbox.accounts import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY
from service.pushr.breaker import BreakerSet
from service.pushr.client import PushrClient
from service.pushr.outcomes import Outcome, ProviderResult
from service.pushr.ratelimit import RateLimiter
from service.pushr.transport import build_http_client
from service.settings import Settings
from tests.fixtures.tinyproxy import TinyproxyFactory
from tests.fixtures.tls import KEY_PASSWORD, HttpsSandbox, TlsMaterial

pytestmark = pytest.mark.timeout(60)

RECIPIENT = "233558544343"


@pytest.fixture(params=["httpx", "aiohttp", "lean"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def settings(transport: str, sandbox: RunningSandbox, **overrides: Any) -> Settings:
    return Settings(
        http_transport=transport,
        http_connect_timeout=2.0,
        http_read_timeout=5.0,
        retry_max_attempts=1,
        pushr_base_url=sandbox.url,
        pushr_api_key_public=SecretStr(DEMO_PUBLIC_KEY),
        pushr_api_key_secret=SecretStr(DEMO_SECRET_KEY),
        **overrides,
    )


async def send(settings: Settings, environ: Mapping[str, str] | None = None) -> ProviderResult:
    clock = SystemClock()
    async with build_http_client(settings, environ=environ or {}) as http:
        client = PushrClient(
            http,
            settings,
            clock=clock,
            rng=random.Random(1),
            breakers=BreakerSet.from_settings(settings, clock),
            limiter=RateLimiter.from_settings(settings, clock),
        )
        return await client.send_sms(
            message="over https", recipients=[RECIPIENT], sender_id="PYWE", scheduled_at=None
        )


async def list_page(settings: Settings, token: str) -> ProviderResult:
    clock = SystemClock()
    async with build_http_client(settings, environ={}) as http:
        client = PushrClient(
            http,
            settings,
            clock=clock,
            rng=random.Random(1),
            breakers=BreakerSet.from_settings(settings, clock),
            limiter=RateLimiter.from_settings(settings, clock),
        )
        return await client.list_messages(business=1, jwt=token)


# --- TLS ----------------------------------------------------------------------------------


async def test_a_send_over_https_trusting_the_ca_file(
    transport: str, tls: TlsMaterial, https_sandbox: HttpsSandbox
) -> None:
    sandbox = https_sandbox()
    assert sandbox.url.startswith("https://127.0.0.1:")

    result = await send(settings(transport, sandbox, http_ca_file=tls.ca_file))

    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert sandbox.traffic.sends_for(RECIPIENT, "over https") == 1


@pytest.mark.parametrize("trusted", ["other CA file", "default CAs only"])
async def test_a_server_whose_ca_is_not_trusted_is_a_retry_safe_connect_error(
    transport: str, tls: TlsMaterial, https_sandbox: HttpsSandbox, trusted: str
) -> None:
    sandbox = https_sandbox()
    ca = {"http_ca_file": tls.other_ca_file} if trusted == "other CA file" else {}

    result = await send(settings(transport, sandbox, **ca))

    assert result.outcome is Outcome.RETRY_SAFE
    assert result.detail == (
        "ConnectError: the server's TLS certificate is not trusted "
        "(unable to get local issuer certificate)"
    )
    assert sandbox.traffic.requests() == []  # refused in the handshake: nothing reached it


@pytest.mark.parametrize("key", ["plain key", "encrypted key"])
async def test_a_client_certificate_when_the_sandbox_requires_one(
    transport: str, tls: TlsMaterial, https_sandbox: HttpsSandbox, key: str
) -> None:
    sandbox = https_sandbox(client_ca=True)
    client_key: dict[str, Any] = (
        {"http_client_key_file": tls.client_key}
        if key == "plain key"
        else {
            "http_client_key_file": tls.encrypted_client_key,
            "http_client_key_password": SecretStr(KEY_PASSWORD),
        }
    )

    result = await send(
        settings(
            transport,
            sandbox,
            http_ca_file=tls.ca_file,
            http_client_cert_file=tls.client_cert,
            **client_key,
        )
    )

    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert sandbox.traffic.sends_for(RECIPIENT) == 1


@pytest.mark.parametrize("certificate", ["none", "from another CA"])
async def test_a_refused_client_certificate_never_reaches_the_api(
    transport: str, tls: TlsMaterial, https_sandbox: HttpsSandbox, certificate: str
) -> None:
    sandbox = https_sandbox(client_ca=True)
    presented: dict[str, Any] = (
        {}
        if certificate == "none"
        else {
            "http_client_cert_file": tls.other_client_cert,
            "http_client_key_file": tls.other_client_key,
        }
    )
    configured = settings(transport, sandbox, http_ca_file=tls.ca_file, **presented)

    # Under TLS 1.3 the server judges the certificate after the client finished its side of
    # the handshake, so the refusal arrives when the request may already be written: a
    # send reads as ambiguous (never resent), a list read (a GET) as retry-safe.
    sent = await send(configured)
    listed = await list_page(configured, sandbox.issue_token(1))

    assert sent.outcome is Outcome.AMBIGUOUS
    assert listed.outcome is Outcome.RETRY_SAFE
    assert sandbox.traffic.requests() == []
    assert sandbox.traffic.accepted_sends == 0


# --- the proxy --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_requests_go_through_the_proxy_with_its_credentials(
    transport: str,
    tls: TlsMaterial,
    sandbox_factory: Any,
    https_sandbox: HttpsSandbox,
    tinyproxy_factory: TinyproxyFactory,
    scheme: str,
) -> None:
    sandbox = https_sandbox() if scheme == "https" else sandbox_factory()
    proxy = tinyproxy_factory(auth=("relay", "proxy-password-never-logged"))
    tls_trust = {"http_ca_file": tls.ca_file} if scheme == "https" else {}

    result = await send(
        settings(transport, sandbox, http_proxy=SecretStr(proxy.url_with_auth), **tls_trust)
    )

    assert result.outcome is Outcome.ACCEPTED, result.detail
    target = f"127.0.0.1:{sandbox.port}"
    expected = (
        f"CONNECT {target} HTTP/1.1"  # TLS end to end, through the proxy's tunnel
        if scheme == "https"
        else f"POST http://{target}/api/client/sms/send-sms HTTP/1.1"
    )
    assert proxy.requests() == [expected]
    assert sandbox.traffic.sends_for(RECIPIENT) == 1
    assert "proxy-password-never-logged" not in proxy.log_text()


async def test_a_proxy_refusing_the_credentials_is_retry_safe(
    transport: str,
    tls: TlsMaterial,
    https_sandbox: HttpsSandbox,
    tinyproxy_factory: TinyproxyFactory,
) -> None:
    sandbox = https_sandbox()
    proxy = tinyproxy_factory(auth=("relay", "the-right-password"))
    wrong = proxy.url_with_auth.replace("the-right-password", "a-wrong-password")

    result = await send(
        settings(transport, sandbox, http_proxy=SecretStr(wrong), http_ca_file=tls.ca_file)
    )

    assert result.outcome is Outcome.RETRY_SAFE
    assert result.detail == "ProxyError"
    assert sandbox.traffic.requests() == []


@pytest.mark.parametrize(
    ("trust_env", "no_proxy", "through_proxy"),
    [(True, "", True), (True, "localhost,127.0.0.1", False), (False, "", False)],
)
async def test_the_environment_names_the_proxy_only_when_trusted(
    transport: str,
    tls: TlsMaterial,
    https_sandbox: HttpsSandbox,
    tinyproxy_factory: TinyproxyFactory,
    trust_env: bool,
    no_proxy: str,
    through_proxy: bool,
) -> None:
    sandbox = https_sandbox()
    proxy = tinyproxy_factory()
    environ = {"HTTPS_PROXY": proxy.url, "NO_PROXY": no_proxy}

    result = await send(
        settings(transport, sandbox, http_ca_file=tls.ca_file, http_trust_env=trust_env),
        environ,
    )

    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert bool(proxy.requests()) is through_proxy


async def test_the_proxy_down_is_a_retry_safe_error(
    transport: str, sandbox_factory: Any, tinyproxy_factory: TinyproxyFactory, tmp_path: Path
) -> None:
    sandbox = sandbox_factory()
    proxy = tinyproxy_factory()
    proxy.stop()

    result = await send(settings(transport, sandbox, http_proxy=SecretStr(proxy.url)))

    assert result.outcome is Outcome.RETRY_SAFE
    assert result.detail in {"ConnectError", "ProxyError"}
    assert sandbox.traffic.requests() == []
