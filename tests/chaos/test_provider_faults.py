"""Provider faults from the sandbox (at most once): nothing lost, nothing sent twice, the
breaker opens on outages and 5xx bursts, provider requests stay bounded. Hangs, resets and
late answers run with reconciliation on (and a tenth of bulk texts): every verdict is
checked against the sandbox's record (see tests/chaos/reconcile_check.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.devkit.sandbox import RunningSandbox
from tests.chaos.harness import env_int
from tests.chaos.report import ChaosReport
from tests.chaos.scenarios import FAULT_KINDS, provider_faults
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]

# (events, seconds of each fault, bursts)
SHORT = (150, 1.5, 1)
FULL = (env_int("CHAOS_FAULT_EVENTS", 3_000), 4.0, 4)
OUTAGE_FULL = (env_int("CHAOS_FAULT_EVENTS", 3_000), float(env_int("CHAOS_OUTAGE_S", 60)), 1)


def _params() -> list[object]:
    params: list[object] = [pytest.param("5xx bursts", SHORT, id="short-5xx")]
    params.append(pytest.param("outage", (150, 2.0, 1), id="short-outage"))
    for kind in FAULT_KINDS:
        size = OUTAGE_FULL if kind == "outage" else FULL
        params.append(
            pytest.param(
                kind,
                size,
                id=f"full-{kind.replace(' ', '-')}",
                marks=[pytest.mark.chaos, pytest.mark.timeout(900)],
            )
        )
    return params


@pytest.mark.parametrize(("kind", "size"), _params())
async def test_provider_faults(
    kind: str,
    size: tuple[int, float, int],
    kafka_bootstrap: str,
    sandbox: RunningSandbox,
    private_redis: RedisServer,
    chaos_report: ChaosReport,
    scenario_name,
    tmp_path: Path,
) -> None:
    events, seconds, bursts = size
    await provider_faults(
        chaos_report,
        scenario_name(f"provider: {kind}"),
        kind=kind,
        bootstrap=kafka_bootstrap,
        sandbox=sandbox,
        redis_url=private_redis.url,
        log_dir=tmp_path / "logs",
        events=events,
        fault_seconds=seconds,
        bursts=bursts,
    )
