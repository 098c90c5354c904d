"""The ledger's Redis goes away (SIGKILL) and comes back at the same port, empty: sending
pauses while it is down, resumes after, and nothing is lost or sent twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.devkit.sandbox import RunningSandbox
from tests.chaos.harness import env_int
from tests.chaos.report import ChaosReport
from tests.chaos.scenarios import redis_outage
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]

SIZES = [
    pytest.param((200, 3.0), id="short"),
    pytest.param(
        (env_int("CHAOS_REDIS_EVENTS", 3_000), float(env_int("CHAOS_REDIS_DOWN_S", 30))),
        id="full",
        marks=[pytest.mark.chaos, pytest.mark.timeout(900)],
    ),
]


@pytest.mark.parametrize("size", SIZES)
async def test_redis_outage(
    size: tuple[int, float],
    kafka_bootstrap: str,
    sandbox: RunningSandbox,
    private_redis: RedisServer,
    chaos_report: ChaosReport,
    scenario_name,
    tmp_path: Path,
) -> None:
    events, down = size
    await redis_outage(
        chaos_report,
        scenario_name("Redis unavailable"),
        bootstrap=kafka_bootstrap,
        sandbox=sandbox,
        redis=private_redis,
        log_dir=tmp_path / "logs",
        events=events,
        down_seconds=down,
    )
