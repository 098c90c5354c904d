"""/healthz, /readyz and /metrics over aiohttp's test client, time on a ManualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from service.clock import ManualClock
from service.observability.health import Health, build_app
from service.observability.metrics import Metrics
from tests.fixtures.metrics import sample_value


class Pings:
    def __init__(self) -> None:
        self.kafka = True
        self.ledger = True

    async def kafka_ping(self) -> bool:
        return self.kafka

    async def ledger_ping(self) -> bool:
        return self.ledger


Rig = tuple[TestClient[web.Request, web.Application], Health, Pings, CollectorRegistry]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = ManualClock()
    pings = Pings()
    health = Health(
        clock=clock, stall_seconds=60, ledger_ping=pings.ledger_ping, kafka_ping=pings.kafka_ping
    )
    health.progressed()
    registry = CollectorRegistry()
    client = TestClient(TestServer(build_app(health, registry, Metrics(registry))))
    await client.start_server()
    try:
        yield client, health, pings, registry
    finally:
        await client.close()


async def test_ready_only_when_every_check_passes(rig: Rig) -> None:
    client, health, pings, registry = rig
    response = await client.get("/readyz")
    assert response.status == 503  # not joined the group yet
    health.assigned = True
    health.kafka_ok = True
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "ready": True,
        "group_joined": True,
        "kafka": True,
        "ledger": True,
        "pushr_credentials": True,
    }
    assert sample_value(registry, "pushr_relay_ready") == 1

    for broken in ("kafka", "ledger", "credentials"):
        pings.kafka = broken != "kafka"
        pings.ledger = broken != "ledger"
        health.credentials_ok = broken != "credentials"
        response = await client.get("/readyz")
        assert response.status == 503, broken
        assert sample_value(registry, "pushr_relay_ready") == 0
        assert (await client.get("/healthz")).status == 200  # not ready is not dead


async def test_alive_until_the_loop_stalls(rig: Rig) -> None:
    client, health, _pings, _registry = rig
    assert (await client.get("/healthz")).status == 200
    health.clock.advance(61)  # type: ignore[attr-defined]
    assert (await client.get("/healthz")).status == 503
    health.progressed()
    assert (await client.get("/healthz")).status == 200


async def test_a_scrape_refreshes_the_readiness_gauges(rig: Rig) -> None:
    client, health, pings, registry = rig
    health.assigned = health.kafka_ok = True
    pings.ledger = False
    text = await (await client.get("/metrics")).text()
    assert 'pushr_relay_readiness_check{check="ledger"} 0.0' in text
    assert 'pushr_relay_readiness_check{check="kafka"} 1.0' in text
    assert sample_value(registry, "pushr_relay_last_progress_timestamp_seconds") == (
        health.clock.now()
    )


async def test_with_the_opt_out_list_on_ready_only_once_it_was_read(rig: Rig) -> None:
    client, health, _pings, registry = rig
    health.assigned = health.kafka_ok = True
    read = False
    health.optout_list_read = lambda: read
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["optout_list"] is False
    read = True
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["optout_list"] is True
    assert sample_value(registry, "pushr_relay_readiness_check", {"check": "optout_list"}) == 1
