"""Scale the relay 1 -> 3 -> 1 under load (six partitions, shared Redis ledger): every
rebalance moves partitions with work in flight; nothing is lost or sent twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.devkit.sandbox import RunningSandbox
from tests.chaos.harness import env_int
from tests.chaos.report import ChaosReport
from tests.chaos.scenarios import scaling
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.chaos]


@pytest.mark.timeout(900)
async def test_scale_1_3_1(
    kafka_bootstrap: str,
    sandbox: RunningSandbox,
    private_redis: RedisServer,
    chaos_report: ChaosReport,
    scenario_name,
    tmp_path: Path,
) -> None:
    await scaling(
        chaos_report,
        scenario_name("scale relays 1 -> 3 -> 1"),
        bootstrap=kafka_bootstrap,
        sandbox=sandbox,
        redis_url=private_redis.url,
        log_dir=tmp_path / "logs",
        events=env_int("CHAOS_SCALE_EVENTS", 5_000),
    )
