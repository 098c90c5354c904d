"""The relay's small HTTP server: /metrics, /healthz (alive) and /readyz (ready).

Alive means the main loop progressed within `stall_seconds` (a wedged loop gets restarted);
ready means the group was joined, Kafka and the ledger answer, Push.R has not rejected
the credentials and (with the opt-out list on) the list was read to its end (a replica
that cannot send should get no traffic, but a restart would not fix wrong keys, so that
never touches liveness).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from service.clock import Clock
from service.observability.metrics import Metrics


@dataclass
class Health:
    """Facts the run loop reports; the probes read them."""

    clock: Clock
    stall_seconds: float
    ledger_ping: Callable[[], Awaitable[bool]] | None = None
    # fetching succeeding is not proof: aiokafka's getmany returns empty while brokers are down
    kafka_ping: Callable[[], Awaitable[bool]] | None = None
    assigned: bool = False  # joined the group (an assignment, possibly empty, arrived)
    kafka_ok: bool = False
    credentials_ok: bool = True  # Push.R has not answered 401/403 (for every account)
    # held accounts and why, shown in /readyz (service.accounts.held)
    account_detail: Callable[[], dict[str, list[str]]] | None = None
    # with the opt-out list on: whether it was read to its end (ready only then)
    optout_list_read: Callable[[], bool] | None = None
    last_progress: float = field(default=0.0)

    def progressed(self) -> None:
        self.last_progress = self.clock.monotonic()

    def alive(self) -> bool:
        return self.clock.monotonic() - self.last_progress <= self.stall_seconds

    def last_progress_epoch(self) -> float:
        return self.clock.now() - (self.clock.monotonic() - self.last_progress)

    async def readiness(self) -> dict[str, bool]:
        ledger_ok = True if self.ledger_ping is None else await self.ledger_ping()
        kafka_ok = self.kafka_ok
        if kafka_ok and self.kafka_ping is not None:
            kafka_ok = await self.kafka_ping()
        checks = {
            "group_joined": self.assigned,
            "kafka": kafka_ok,
            "ledger": ledger_ok,
            "pushr_credentials": self.credentials_ok,
        }
        if self.optout_list_read is not None:
            checks["optout_list"] = self.optout_list_read()
        return checks


def _export(metrics: Metrics | None, checks: dict[str, bool], health: Health) -> None:
    if metrics is None:
        return
    for name, ok in checks.items():
        metrics.readiness_check.labels(name).set(1 if ok else 0)
    metrics.ready.set(1 if all(checks.values()) else 0)
    metrics.last_progress.set(health.last_progress_epoch())


def build_app(
    health: Health, registry: CollectorRegistry, metrics_: Metrics | None = None
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        # readiness is computed on demand, so a scrape refreshes the gauges that mirror it
        _export(metrics_, await health.readiness(), health)
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        alive = health.alive()
        return web.json_response({"alive": alive}, status=200 if alive else 503)

    async def readyz(_: web.Request) -> web.Response:
        checks = await health.readiness()
        _export(metrics_, checks, health)
        ready = all(checks.values())
        body: dict[str, object] = {"ready": ready, **checks}
        if health.account_detail is not None and (held := health.account_detail()):
            body["accounts_held"] = held
        return web.json_response(body, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class HealthServer:
    """Runs the app on host:port; port 0 picks a free one (see `.port`)."""

    def __init__(
        self,
        health: Health,
        registry: CollectorRegistry,
        host: str,
        port: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._runner = web.AppRunner(build_app(health, registry, metrics), access_log=None)
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
