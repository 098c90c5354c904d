"""The live /metrics, /healthz and /readyz of a real relay (real broker, sandbox over HTTP):
the exposition passes `promtool check metrics`, the counters move with the traffic, and
rejected Push.R credentials make the relay not ready while it stays alive."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import httpx
import pytest

from tests.fixtures.metrics import parse_exposition, sample_names
from tests.fixtures.metrics import sample_value as value
from tests.fixtures.redis import free_port
from tests.fixtures.tools import require_tool
from tests.integration.relay_harness import (
    TopicReader,
    eventually,
    final_status,
    make_topics,
    produce,
    relay_settings,
    running_relay,
    sms_event,
)

pytestmark = pytest.mark.integration


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def get_json(http: httpx.AsyncClient, path: str) -> tuple[int, dict[str, Any]]:
    try:
        response = await http.get(path)
    except httpx.TransportError:
        return 0, {}  # the server is not listening yet
    return response.status_code, response.json()


async def test_live_metrics_are_promtool_clean_and_count_the_traffic(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    port = free_port()
    settings = relay_settings(kafka_bootstrap, sandbox, topics, http_port=port)
    good = sms_event(["0558544343", "+233 24 876 9324"])
    bad = {"event_id": "evt-bad", "recipients": ["0558544343"], "sender_id": "PYWE"}
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):
        await produce(kafka_bootstrap, topics.inbound, [good, bad])
        await out.wait_for(
            lambda rs: (
                final_status(rs, good["event_id"]) is not None
                and final_status(rs, "evt-bad") is not None
            )
        )

        async def ready() -> bool:
            status, _ = await get_json(http, "/readyz")
            return status == 200

        await eventually(ready, within=30)
        status, body = await get_json(http, "/healthz")
        assert (status, body) == (200, {"alive": True})

        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text

    m = parse_exposition(text)
    assert value(m, "pushr_relay_events_consumed_total") == 2
    assert value(m, "pushr_relay_events_accepted_total") == 1
    assert value(m, "pushr_relay_events_rejected_total", {"reason": "schema_invalid"}) == 1
    assert value(m, "pushr_relay_events_dead_lettered_total", {"reason": "schema_invalid"}) == 1
    assert value(m, "pushr_relay_recipients_accepted_total") == 2
    assert (
        value(
            m,
            "pushr_relay_provider_requests_total",
            {"endpoint": "send-sms", "outcome": "accepted"},
        )
        == 1
    )
    assert (
        value(m, "pushr_relay_provider_request_duration_seconds_count", {"endpoint": "send-sms"})
        == 1
    )
    assert value(m, "pushr_relay_ledger_claims_total", {"status": "claimed"}) == 1
    assert value(m, "pushr_relay_results_published_total", {"outcome": "sent"}) == 1
    assert value(m, "pushr_relay_status_events_published_total", {"status": "rejected"}) == 1
    assert value(m, "pushr_relay_sms_units_total") == 2
    assert value(m, "pushr_relay_sms_cost_ghs_total") > 0
    assert value(m, "pushr_relay_end_to_end_seconds_count") == 1
    assert value(m, "pushr_relay_batches_in_flight") == 0
    assert value(m, "pushr_relay_breaker_state", {"endpoint": "send-sms", "state": "closed"}) == 1
    assert value(m, "pushr_relay_ready") == 1
    assert value(m, "pushr_relay_readiness_check", {"check": "pushr_credentials"}) == 1
    assert value(m, "pushr_relay_consumer_lag", {"topic": topics.inbound, "partition": "0"}) == 0
    assert "pushr_relay_build_info" in sample_names(m)
    # a label set exists before its first event, so dashboards and rate() see zeros
    assert value(m, "pushr_relay_events_rejected_total", {"reason": "not_json"}) == 0
    buckets = "pushr_relay_provider_request_duration_seconds_bucket"
    assert value(m, buckets, {"endpoint": "send-sms", "le": "30.0"}) == 1
    assert value(m, buckets, {"endpoint": "send-sms", "le": "0.01"}) in {0, 1}  # a fast answer

    # Last, so that a machine without promtool still checks every metric above.
    check = promtool_check(text)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == ""
    assert check.stderr.strip() == ""


async def test_rejected_keys_make_the_relay_not_ready_but_alive(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    port = free_port()
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        http_port=port,
        pushr_api_key_secret="sk_wrong_but_long_enough",
        balance_recheck_seconds=30.0,  # no probe during the test: stay paused
    )
    event = sms_event(["0558544343"])
    async with (
        running_relay(settings) as relay,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
    ):

        async def ready() -> bool:
            status, _ = await get_json(http, "/readyz")
            return status == 200

        await eventually(ready, within=30)  # ready until Push.R says otherwise
        await produce(kafka_bootstrap, topics.inbound, [event])

        async def refused() -> bool:
            status, body = await get_json(http, "/readyz")
            return status == 503 and body.get("pushr_credentials") is False

        await eventually(refused, within=30)
        status, body = await get_json(http, "/readyz")
        assert body == {
            "ready": False,
            "group_joined": True,
            "kafka": True,
            "ledger": True,
            "pushr_credentials": False,
        }
        status, body = await get_json(http, "/healthz")
        assert (status, body) == (200, {"alive": True})
        assert (
            relay.metric(
                "pushr_relay_provider_requests_total",
                {"endpoint": "send-sms", "outcome": "unauthorized"},
            )
            >= 1
        )
        assert relay.metric("pushr_relay_sending_paused", {"reason": "credentials_rejected"}) == 1
        assert relay.metric("pushr_relay_ready") == 0
        await asyncio.wait_for(relay.stop(), 60)
