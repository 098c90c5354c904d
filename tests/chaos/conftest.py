"""Chaos fixtures: a session-wide collector that every scenario reports into and that writes
`reports/chaos.json` and `reports/chaos.md` (short runs: `reports/chaos-short.*`) at the end;
a private Redis per test (scenarios stop it); the sandbox of every scenario.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.devkit.sandbox import RunningSandbox, SandboxConfig
from tests.chaos.report import ChaosReport
from tests.fixtures.redis import RedisServer
from tests.fixtures.sandbox import SEED, SandboxFactory

_REPORT = ChaosReport()


@pytest.fixture(scope="session")
def chaos_report() -> Iterator[ChaosReport]:
    yield _REPORT
    _REPORT.write()


@pytest.fixture(autouse=True)
def _mark_full(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("chaos") is not None:
        _REPORT.full = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    scenario = getattr(item, "chaos_scenario", None)
    if rep.failed and scenario:
        _REPORT.fail(scenario)
    return rep


@pytest.fixture
def scenario_name(request: pytest.FixtureRequest) -> Any:
    def name(value: str) -> str:
        request.node.chaos_scenario = value
        return value

    return name


@pytest.fixture
def private_redis(redis_executable: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone: scenarios may stop and restart it (same port)."""
    server = RedisServer(tmp_path / "redis", executable=redis_executable)
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    """The chaos sandbox: its list shows a processed request a second after its `created`
    (an eventually consistent list: the relay's settle time must cover it) and pages 100
    messages at a time."""
    return sandbox_factory(SandboxConfig(seed=SEED, page_size=100, list_lag_s=1.0))
