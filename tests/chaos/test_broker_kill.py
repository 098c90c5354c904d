"""SIGKILL a Kafka broker mid-run and restart it: the single node, and one node of three
(replication factor 3, min.insync.replicas=2). Nothing lost, nothing sent twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.devkit.broker.local_broker import LocalKafka
from service.devkit.sandbox import RunningSandbox
from tests.chaos.harness import env_int
from tests.chaos.report import ChaosReport
from tests.chaos.scenarios import broker_kill
from tests.fixtures.kafka import require_native_broker_tools
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.chaos]


@pytest.fixture(params=[1, 3], ids=["1-node", "3-nodes"])
def own_kafka(request: pytest.FixtureRequest) -> Iterator[LocalKafka]:
    require_native_broker_tools()
    # a cluster of this test alone: it gets killed
    with LocalKafka(nodes=request.param, properties={"broker.session.timeout.ms": 4000}) as k:
        yield k


@pytest.mark.timeout(900)
async def test_broker_kill(
    own_kafka: LocalKafka,
    sandbox: RunningSandbox,
    private_redis: RedisServer,
    chaos_report: ChaosReport,
    scenario_name,
    tmp_path: Path,
) -> None:
    nodes = own_kafka.nodes
    await broker_kill(
        chaos_report,
        scenario_name("kill the single broker" if nodes == 1 else "kill 1 broker of 3"),
        kafka=own_kafka,
        sandbox=sandbox,
        redis_url=private_redis.url,
        log_dir=tmp_path / "logs",
        events=env_int("CHAOS_BROKER_EVENTS", 3_000),
        kills=env_int("CHAOS_BROKER_KILLS", 2),
        down_seconds=5.0,
    )
