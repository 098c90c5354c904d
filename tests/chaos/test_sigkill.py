"""SIGKILL the relay subprocess at random moments during a run and restart it each time,
with reconciliation on: every batch in the air at a kill is handed over when its lapsed
claim is taken over, and settled from Push.R's list.

A tenth of the events share one bulk text, the rest have texts of their own (OTPs). Every
verdict is checked against the sandbox's record (none wrong); unique texts: nothing lost or
sent twice, `unknown` at the end at most 0.05 % of events; the bulk text: only what the
rules call ambiguous stays unknown (at most once) or is resent (at least once).
Full size (`make chaos`): CHAOS_KILLS=20 kills over CHAOS_EVENTS=10000 events.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.devkit.sandbox import RunningSandbox
from tests.chaos.harness import env_int
from tests.chaos.report import ChaosReport
from tests.chaos.scenarios import sigkill
from tests.fixtures.redis import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]

FULL = (env_int("CHAOS_EVENTS", 10_000), env_int("CHAOS_KILLS", 20))
_FULL_MARKS = [pytest.mark.chaos, pytest.mark.timeout(1500)]
CASES = [
    # the short one runs in `make test`
    pytest.param((200, 1), "at_most_once", id="short-at_most_once"),
    pytest.param(FULL, "at_most_once", id="full-at_most_once", marks=_FULL_MARKS),
    pytest.param(FULL, "at_least_once", id="full-at_least_once", marks=_FULL_MARKS),
]


@pytest.mark.parametrize(("size", "mode"), CASES)
async def test_sigkill_relay(
    size: tuple[int, int],
    mode: str,
    kafka_bootstrap: str,
    sandbox: RunningSandbox,
    private_redis: RedisServer,
    chaos_report: ChaosReport,
    scenario_name,
    tmp_path: Path,
) -> None:
    events, kills = size
    await sigkill(
        chaos_report,
        scenario_name(f"SIGKILL relay ({mode})"),
        bootstrap=kafka_bootstrap,
        sandbox=sandbox,
        redis_url=private_redis.url,
        log_dir=tmp_path / "logs",
        events=events,
        kills=kills,
        mode=mode,
    )
