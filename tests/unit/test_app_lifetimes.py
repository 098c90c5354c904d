"""The composition root's lifetime helpers: background work ends with the relay."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from structlog.testing import capture_logs

from service.app import start_background


async def test_background_work_is_cancelled_when_the_stack_closes() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with contextlib.AsyncExitStack() as stack:
        start_background(stack, work(), "worker")
        await started.wait()
    assert cancelled.is_set()


async def test_a_crashed_background_task_never_fails_the_shutdown() -> None:
    async def crash() -> None:
        raise RuntimeError("poller bug")

    with capture_logs() as logs:
        async with contextlib.AsyncExitStack() as stack:
            start_background(stack, crash(), "status-poller")
            await asyncio.sleep(0)
    assert [(e["event"], e["task"]) for e in logs] == [("background_task_crashed", "status-poller")]


async def test_an_error_inside_the_stack_still_stops_background_work() -> None:
    stopped = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    async def relay() -> None:
        async with contextlib.AsyncExitStack() as stack:
            start_background(stack, work(), "worker")
            await asyncio.sleep(0)
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await relay()
    assert stopped.is_set()
