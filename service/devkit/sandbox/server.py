"""`SandboxServer`: the endpoints, faults and outages behind one listening socket.

    async with SandboxServer(SandboxConfig(seed=1)) as sandbox:   # or await start()/stop()
        sandbox.url                      # http://127.0.0.1:PORT/api/client (https with TLS)
        sandbox.set_faults({"error_rates": {"503": 0.2}})
        sandbox.outage(duration_s=1.0)   # connection refused for a second
        sandbox.traffic.duplicate_sends()

Run everything on the server's own loop; `RunningSandbox` does that for other threads.
"""

from __future__ import annotations

import asyncio
import logging
import random
from decimal import Decimal
from typing import Any

from service.clock import Clock, SystemClock
from service.devkit.sandbox import admin, api, custom, listing, responses, tokens
from service.devkit.sandbox.accounts import AccountStore, merge_businesses
from service.devkit.sandbox.config import SandboxConfig
from service.devkit.sandbox.fault_engine import FaultEngine
from service.devkit.sandbox.faults import FaultConfig
from service.devkit.sandbox.http_server import HttpServer
from service.devkit.sandbox.lifecycle import LifecycleConfig
from service.devkit.sandbox.outages import Outages
from service.devkit.sandbox.state import Handled, SandboxState
from service.devkit.sandbox.traffic import Traffic
from service.devkit.sandbox.wire import Deferred, Request

log = logging.getLogger("pushr.sandbox")

_P = "/api/client/sms/"
_ROUTES = {
    (b"POST", f"{_P}send-sms"): ("send-sms", api.send_sms),
    (b"POST", f"{_P}custom"): ("custom", custom.custom_sms),
    (b"GET", "/api/client/sms"): ("list", listing.list_messages),
    (b"POST", "/api/token"): ("token", tokens.obtain),
    (b"POST", "/api/token/refresh"): ("token-refresh", tokens.refresh),
}
ROUTES = {(m, p.encode() + s): route for (m, p), route in _ROUTES.items() for s in (b"", b"/")}
PATHS = frozenset(path for _, path in ROUTES)


class SandboxServer:
    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config = config or SandboxConfig()
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random(config.seed)
        self.state = SandboxState(
            AccountStore(merge_businesses(config.accounts)),
            config.lifecycle,
            self.clock,
            self.rng,
            jwt_secret=config.jwt_secret,
            page_size=config.page_size,
            list_lag_s=config.list_lag_s,
            retention=config.retention,
            ring_size=config.ring_size,
            access_ttl_s=config.access_token_ttl_s,
            refresh_ttl_s=config.refresh_token_ttl_s,
        )
        self.engine = FaultEngine(config.faults, self.rng, self.clock)
        tls = config.tls_context()
        if tls is not None:
            self.state.scheme = "https"
        self.http = HttpServer(self.dispatch, self.clock.sleep, tls)
        self._outages: Outages | None = None

    # ---- lifecycle of the server ---------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        await self.http.listen(host, port)
        self._outages = Outages(self.http, asyncio.get_running_loop())
        self._outages.schedule(self.engine.config.outages)
        log.info("sandbox listening on %s", self.url)
        return self

    async def stop(self) -> None:
        if self._outages is not None:
            self._outages.cancel()
        await self.http.close()

    async def __aenter__(self) -> SandboxServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"{self.state.scheme}://{self.http.host}:{self.http.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/client"

    @property
    def traffic(self) -> Traffic:
        return self.state.traffic

    # ---- in-process control (call on the server's loop) ---------------------------------

    @property
    def faults(self) -> FaultConfig:
        return self.engine.config

    @faults.setter
    def faults(self, config: FaultConfig | dict[str, Any]) -> None:
        self.set_faults(config)

    def set_faults(self, config: FaultConfig | dict[str, Any] | None) -> FaultConfig:
        """Replace the fault config (outage windows count from now)."""
        if config is None:
            config = FaultConfig()
        elif isinstance(config, dict):
            config = FaultConfig.from_dict(config)
        self.engine.config = config
        if self._outages is not None:
            self._outages.schedule(config.outages)
        log.info("faults set: %s", config.to_dict())
        return config

    def set_lifecycle(self, config: LifecycleConfig | dict[str, Any]) -> LifecycleConfig:
        """Applies to messages accepted from now on."""
        if isinstance(config, dict):
            config = LifecycleConfig.from_dict(config)
        self.state.lifecycle = config
        return config

    def set_list_lag(self, seconds: float) -> float:
        """Show each message in the list only `seconds` after its `created`."""
        if seconds < 0:
            raise ValueError("list lag must be >= 0")
        self.state.list_lag_s = float(seconds)
        return self.state.list_lag_s

    def outage(self, duration_s: float, start_s: float = 0.0) -> None:
        """Close the listening socket (and open connections) for `duration_s`."""
        if self._outages is None:
            raise RuntimeError("start the sandbox first")
        self._outages.start(duration_s, start_s)

    def end_outages(self) -> None:
        """End every outage window, running or scheduled, and listen again now."""
        if self._outages is not None:
            self._outages.end_all()

    def issue_token(self, business: int = 1, ttl_s: float | None = None) -> str:
        """An access token; `ttl_s` None: the configured access-token lifetime."""
        return self.state.issue_token(business, ttl_s)

    def set_balance(self, business: int, amount: str | int | float | Decimal) -> str:
        return self.state.accounts.set_balance(business, amount)

    def top_up(self, business: int, amount: str | int | float | Decimal) -> str:
        return self.state.accounts.top_up(business, amount)

    def reset(self) -> None:
        """Back to the start-up state: accounts, messages, traffic, faults, lifecycle."""
        self.state.reset()
        self.state.lifecycle = self.config.lifecycle
        self.state.list_lag_s = self.config.list_lag_s
        self.end_outages()
        self.set_faults(self.config.faults)

    # ---- requests ------------------------------------------------------------------------

    def dispatch(self, request: Request) -> bytes | Deferred:
        path = request.url.split(b"?", 1)[0]
        route = ROUTES.get((request.method, path))
        if route is None:
            if path.startswith(b"/_sandbox/"):
                return admin.handle(self, request, path)
            return self._unrouted(request, path)
        endpoint, handler = route
        decision = self.engine.decide(endpoint)
        traffic = self.state.traffic
        method = "POST" if request.method == b"POST" else request.method.decode("latin-1")
        if decision is None:
            handled: Handled = handler(self.state, request)
            traffic.record(
                self.clock.now(), method, endpoint, handled.status, handled.outcome, None,
                handled.business, handled.message_ids, handled.recipients_count,
            )  # fmt: skip
            return handled.response
        kind = decision.kind
        if kind in ("error", "rate_limited"):
            assert decision.status is not None
            outcome = "rate_limited" if kind == "rate_limited" else "fault"
            traffic.record(self.clock.now(), method, endpoint, decision.status, outcome,
                           str(decision.status))  # fmt: skip
            response = responses.injected_error(decision.status, decision.retry_after_s)
            return Deferred("respond", response, decision.delay_s)
        if kind == "hang":
            traffic.record(self.clock.now(), method, endpoint, None, "fault", "hang")
            return Deferred("hang", None, decision.delay_s, self.engine.config.hang_s)
        handled = handler(self.state, request)
        traffic.record(
            self.clock.now(), method, endpoint,
            None if kind == "reset" else handled.status, handled.outcome,
            None if kind == "ok" else kind,
            handled.business, handled.message_ids, handled.recipients_count,
        )  # fmt: skip
        return Deferred(
            "reset" if kind == "reset" else "respond", handled.response, decision.delay_s
        )

    def _unrouted(self, request: Request, path: bytes) -> bytes:
        method = request.method.decode("latin-1")
        if path in PATHS:
            status, body = 405, responses.detail(405, f'Method "{method}" not allowed.')
        else:
            status, body = 404, responses.detail(404, "Not found.")
        outcome = "not_found" if status == 404 else "rejected"
        self.state.traffic.record(self.clock.now(), method, "other", status, outcome)
        return body
