"""Outages: the listening socket closed for a window (connection refused), then reopened.

Windows come from the fault config (`outages`, counted from when it was set) or from a direct
call. They run on the loop's real timers, not the injected clock: the point is what a client
sees on the wire. Overlapping windows keep the socket closed until the last one ends.
"""

from __future__ import annotations

import asyncio
import logging

from service.devkit.sandbox.faults import Outage
from service.devkit.sandbox.http_server import HttpServer

log = logging.getLogger("pushr.sandbox")


class Outages:
    def __init__(self, http: HttpServer, loop: asyncio.AbstractEventLoop) -> None:
        self.http = http
        self.loop = loop
        self._configured: list[asyncio.TimerHandle] = []  # from the fault config
        self._starts: list[asyncio.TimerHandle] = []  # asked for directly
        self._ends: list[asyncio.TimerHandle] = []
        self.active = 0

    def schedule(self, windows: list[Outage]) -> None:
        """Replace the configured windows (one already under way runs to its end)."""
        for timer in self._configured:
            timer.cancel()
        # Always via the loop, so that an admin request setting these is answered first.
        self._configured = [
            self.loop.call_later(w.start_s, self.begin, w.duration_s) for w in windows
        ]

    def start(self, duration_s: float, start_s: float = 0.0) -> None:
        if start_s <= 0:
            self.begin(duration_s)  # refused as soon as this returns
        else:
            self._starts.append(self.loop.call_later(start_s, self.begin, duration_s))

    def begin(self, duration_s: float) -> None:
        self.active += 1
        if self.http.listening:
            log.warning("outage: refusing connections for %.3fs", duration_s)
            self.http.close_listener()
        self._ends.append(self.loop.call_later(duration_s, self.end))

    def end(self) -> None:
        self.active = max(0, self.active - 1)
        if self.active == 0 and not self.http.listening:
            task = self.loop.create_task(self.http.reopen())
            self.http.tasks.add(task)
            task.add_done_callback(self._reopened)

    def end_all(self) -> None:
        """Cancel every window and listen again now."""
        self.cancel()
        if self.active:
            self.active = 1
            self.end()

    def cancel(self) -> None:
        for timer in (*self._configured, *self._starts, *self._ends):
            timer.cancel()
        self._configured.clear()
        self._starts.clear()
        self._ends.clear()

    def _reopened(self, task: asyncio.Task[None]) -> None:
        self.http.tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("outage: could not listen again on port %d", self.http.port, exc_info=error)
        else:
            log.warning("outage over: listening on port %d", self.http.port)
