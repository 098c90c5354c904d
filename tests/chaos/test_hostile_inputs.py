"""Hostile inputs mixed with valid events: every invalid one in the DLQ with a reason, every
valid one sent once, the relay never exits, every partition's offsets fully committed, and
no number or secret leaks into logs, dead letters or outbound events."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.devkit.sandbox import RunningSandbox
from tests.chaos.harness import env_int
from tests.chaos.report import ChaosReport
from tests.chaos.scenarios import hostile
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]

SIZES = [
    pytest.param((300, 100), id="short"),
    pytest.param(
        (env_int("CHAOS_HOSTILE", 10_000), env_int("CHAOS_HOSTILE_VALID", 2_000)),
        id="full",
        marks=[pytest.mark.chaos, pytest.mark.timeout(1200)],
    ),
]


@pytest.mark.parametrize("size", SIZES)
async def test_hostile_inputs(
    size: tuple[int, int],
    kafka_bootstrap: str,
    sandbox: RunningSandbox,
    private_redis: RedisServer,
    chaos_report: ChaosReport,
    scenario_name,
    tmp_path: Path,
) -> None:
    bad, valid = size
    await hostile(
        chaos_report,
        scenario_name("hostile inputs"),
        bootstrap=kafka_bootstrap,
        sandbox=sandbox,
        redis_url=private_redis.url,
        log_dir=tmp_path / "logs",
        hostile_count=bad,
        valid=valid,
    )
