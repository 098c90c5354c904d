"""The relay's small HTTP server: /metrics, /healthz (alive) and /readyz (ready)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from service.clock import Clock


@dataclass
class Health:
    """Facts the run loop reports; the probes read them."""

    clock: Clock
    stall_seconds: float
    ledger_ping: Callable[[], Awaitable[bool]] | None = None
    assigned: bool = False  # joined the group (an assignment, possibly empty, arrived)
    kafka_ok: bool = False
    credentials_ok: bool = True  # Push.R has not answered 401/403
    last_progress: float = field(default=0.0)

    def progressed(self) -> None:
        self.last_progress = self.clock.monotonic()

    def alive(self) -> bool:
        return self.clock.monotonic() - self.last_progress <= self.stall_seconds

    async def readiness(self) -> dict[str, bool]:
        ledger_ok = True if self.ledger_ping is None else await self.ledger_ping()
        return {
            "group_joined": self.assigned,
            "kafka": self.kafka_ok,
            "ledger": ledger_ok,
            "pushr_credentials": self.credentials_ok,
        }


def build_app(health: Health, registry: CollectorRegistry) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        alive = health.alive()
        return web.json_response({"alive": alive}, status=200 if alive else 503)

    async def readyz(_: web.Request) -> web.Response:
        checks = await health.readiness()
        ready = all(checks.values())
        return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class HealthServer:
    """Runs the app on host:port; port 0 picks a free one (see `.port`)."""

    def __init__(self, health: Health, registry: CollectorRegistry, host: str, port: int) -> None:
        self._runner = web.AppRunner(build_app(health, registry), access_log=None)
        self._host = host
        self._port = port
        self.port = port

    async def __aenter__(self) -> HealthServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()
