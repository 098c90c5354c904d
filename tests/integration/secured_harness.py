"""Helpers of the secured-Kafka tests: an OIDC token endpoint on loopback, the OAUTHBEARER
settings that use it, and `pushr-relay produce` as a child process."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fixtures.secured_kafka import unsecured_jwt
from tests.integration.relay_harness import REPO_ROOT

OAUTH_CLIENT, OAUTH_SECRET = "pushr-relay-test", "oauth-client-secret-for-tests"


@dataclass
class TokenEndpoint:
    url: str
    answered: list[dict[str, str]] = field(default_factory=list)


@asynccontextmanager
async def token_endpoint(lifetime_s: int) -> AsyncIterator[TokenEndpoint]:
    """An OIDC token endpoint (client-credentials grant, client_secret_basic) on loopback,
    issuing tokens the broker's unsecured validator accepts; it records what it answered."""
    answered: list[dict[str, str]] = []

    async def issue(request: web.Request) -> web.Response:
        basic = base64.b64encode(f"{OAUTH_CLIENT}:{OAUTH_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {basic}":
            return web.json_response({"error": "invalid_client"}, status=401)
        answered.append({k: str(v) for k, v in (await request.post()).items()})
        token = unsecured_jwt(OAUTH_CLIENT, lifetime_s)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime_s}
        )

    app = web.Application()
    app.router.add_post("/oauth2/token", issue)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield TokenEndpoint(f"http://127.0.0.1:{port}/oauth2/token", answered)
    finally:
        await runner.cleanup()


def oauth_settings(url: str, secret: str = OAUTH_SECRET) -> dict[str, Any]:
    """SASL_SSL with OAUTHBEARER instead of the broker's SCRAM user."""
    return {
        "kafka_sasl_mechanism": "OAUTHBEARER",
        "kafka_sasl_username": None,
        "kafka_sasl_password": None,
        "kafka_sasl_oauth_token_url": url,
        "kafka_sasl_oauth_client_id": OAUTH_CLIENT,
        "kafka_sasl_oauth_client_secret": secret,
        "kafka_sasl_oauth_scope": "kafka",
    }


def produce_cli(
    env: dict[str, str], topic: str, lines: list[bytes]
) -> subprocess.CompletedProcess[str]:
    """`pushr-relay produce --topic TOPIC -` with `lines` on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "service", "produce", "--topic", topic, "-"],
        input=b"\n".join(lines).decode(),
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
