"""`RunningSandbox`: a sandbox on its own event loop in a background thread.

For synchronous tests and for tests whose own loop must not host the server (a client that
blocks the loop would otherwise block the sandbox too):

    with RunningSandbox() as sandbox:
        requests.post(f"{sandbox.url}/sms/send-sms", json={...})
        sandbox.set_faults({"sequence": ["503"]})
        assert sandbox.traffic.duplicate_sends() == []

Control calls run on the sandbox's loop and wait for it; traffic queries read snapshots.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from service.clock import Clock
from service.devkit.sandbox.config import SandboxConfig
from service.devkit.sandbox.faults import FaultConfig
from service.devkit.sandbox.lifecycle import LifecycleConfig
from service.devkit.sandbox.server import SandboxServer
from service.devkit.sandbox.state import SandboxState
from service.devkit.sandbox.traffic import Traffic

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the sandbox extra), else the standard loop."""
    try:
        import uvloop  # noqa: PLC0415 - optional extra
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class RunningSandbox:
    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.server = SandboxServer(config, clock=clock, rng=rng)
        self._host, self._port = host, port
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._run, name="pushr-sandbox", daemon=True)
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start(self._host, self._port))
        except BaseException as exc:
            self._started.set_exception(exc)
            return
        self._started.set_result(None)
        self._loop.run_forever()

    def start(self) -> RunningSandbox:
        self._thread.start()
        self._started.result(timeout=CALL_TIMEOUT_S)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            if self._loop.is_running():
                asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(
                    CALL_TIMEOUT_S
                )
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT_S)
        if not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> RunningSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the sandbox's loop and return its result."""
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn(*args))
            except BaseException as exc:
                result.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return result.result(CALL_TIMEOUT_S)

    # ---- the SandboxServer API, thread-safe ----------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def port(self) -> int:
        return self.server.http.port

    @property
    def state(self) -> SandboxState:
        return self.server.state

    @property
    def traffic(self) -> Traffic:
        return self.server.traffic

    @property
    def faults(self) -> FaultConfig:
        return self.server.faults

    @faults.setter
    def faults(self, config: FaultConfig | dict[str, Any]) -> None:
        self.set_faults(config)

    def set_faults(self, config: FaultConfig | dict[str, Any] | None) -> FaultConfig:
        return self.call(self.server.set_faults, config)

    def set_lifecycle(self, config: LifecycleConfig | dict[str, Any]) -> LifecycleConfig:
        return self.call(self.server.set_lifecycle, config)

    def outage(self, duration_s: float, start_s: float = 0.0) -> None:
        """Returns once a window starting now has closed the listener and the open
        connections: their sockets close a loop turn or two after being aborted, and a
        client reusing one before that would see a reset instead of a refusal."""
        self.call(self.server.outage, duration_s, start_s)
        if start_s <= 0:
            for _ in range(2):
                self.call(lambda: None)

    def end_outages(self) -> None:
        self.call(self.server.end_outages)

    def set_list_lag(self, seconds: float) -> float:
        return self.call(self.server.set_list_lag, seconds)

    def issue_token(self, business: int = 1, ttl_s: float | None = None) -> str:
        return self.server.issue_token(business, ttl_s)

    def set_balance(self, business: int, amount: str | int | float | Decimal) -> str:
        return self.call(self.server.set_balance, business, amount)

    def top_up(self, business: int, amount: str | int | float | Decimal) -> str:
        return self.call(self.server.top_up, business, amount)

    def reset(self) -> None:
        self.call(self.server.reset)

    @property
    def listening(self) -> bool:
        return self.server.http.listening
