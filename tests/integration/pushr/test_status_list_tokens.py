"""The delivery-status poller inside the real relay, with the demo user's expiring JWTs from
the sandbox's simplejwt endpoints: renewed before each expiry, renewed after a 401, past
the refresh token's day; and the whole production path (HTTPS with the run's CA, a real
tinyproxy with credentials) as `pushr-relay run`, whose log lines carry no password.

Time is moved, never waited for: the sandbox (and in the first test the relay too) read a
clock whose wall time the test moves past each expiry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.clock import Clock, SystemClock
from service.devkit.sandbox import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    LifecycleConfig,
    RunningSandbox,
    SandboxConfig,
)
from tests.fixtures.metrics import parse_exposition, sample_value
from tests.fixtures.redis import free_port
from tests.fixtures.tls import TlsMaterial
from tests.integration.relay_harness import (
    RunningRelay,
    TopicReader,
    eventually,
    make_topics,
    phone_numbers,
    produce,
    relay_process,
    relay_settings,
    relay_values,
    running_relay,
    sms_event,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ACCESS_TTL = 60.0
DAY = 86_400.0
LOGIN = {"pushr_username": DEMO_USERNAME, "pushr_password": DEMO_PASSWORD}
LIFECYCLE = LifecycleConfig(sent_after_s=0.0, final_after_s=0.3, outcomes={"delivered": 1.0})


class MovedClock(SystemClock):
    """The system's clock with its wall time moved on by the test; sleeps and the monotonic
    clock stay real, so leases, breakers and timeouts are not disturbed."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def reports(records: list[dict[str, Any]], event_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r.get("type") == "status"
        and r.get("reason") == "delivery_report"
        and r.get("event_id") == event_id
    ]


def token_calls(sandbox: RunningSandbox) -> list[tuple[str, int | None]]:
    return [
        (r.endpoint, r.status)
        for r in sandbox.traffic.requests()
        if r.endpoint in ("token", "token-refresh")
    ]


def list_statuses(sandbox: RunningSandbox) -> list[int | None]:
    return [r.status for r in sandbox.traffic.requests("list")]


async def rounds(
    sandbox: RunningSandbox,
    moved: MovedClock,
    relay_clock: Clock,
    kafka_bootstrap: str,
    topic_factory: Any,
    jumps: list[float],
) -> tuple[list[str], RunningRelay]:
    """One event per round, its delivery report awaited, then `moved` moved on by the
    round's jump. Returns the reported statuses and the (stopped) relay."""
    topics = await make_topics(topic_factory)
    settings = relay_settings(
        kafka_bootstrap,
        sandbox,
        topics,
        status_poll_seconds=0.1,
        pushr_jwt_renew_margin_seconds=10.0,
        **LOGIN,
    )
    statuses: list[str] = []
    numbers = phone_numbers(len(jumps) + 1)
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        running_relay(settings, clock=relay_clock) as relay,
    ):
        for number, jump in zip(numbers, [*jumps, 0.0], strict=True):
            event = sms_event([number])
            event_id = str(event["event_id"])
            await produce(kafka_bootstrap, topics.inbound, [event])

            def reported(records: list[dict[str, Any]], event_id: str = event_id) -> bool:
                return bool(reports(records, event_id))

            records = await out.wait_for(reported)
            statuses += [r["status"] for r in reports(records, event_id)]
            moved.advance(jump)
        await relay.stop()
    return statuses, relay


async def test_renewed_before_each_expiry_the_poller_reports_past_two(
    kafka_bootstrap, topic_factory, sandbox_factory
) -> None:
    clock = MovedClock()  # the relay and the sandbox agree on the time
    sandbox = sandbox_factory(
        SandboxConfig(seed=3, access_token_ttl_s=ACCESS_TTL, lifecycle=LIFECYCLE), clock=clock
    )

    statuses, relay = await rounds(
        sandbox, clock, clock, kafka_bootstrap, topic_factory, [ACCESS_TTL + 1, ACCESS_TTL + 1]
    )

    assert statuses == ["delivered"] * 3
    # one obtain, then a refresh before each expiry: Push.R never had to refuse a token
    assert token_calls(sandbox) == [("token", 200), ("token-refresh", 200), ("token-refresh", 200)]
    assert set(list_statuses(sandbox)) == {200}
    assert relay.metric("pushr_relay_status_polls_total", {"outcome": "unauthorized"}) == 0
    assert relay.metric("pushr_relay_delivery_reports_total", {"status": "delivered"}) == 3


async def test_refused_tokens_are_renewed_and_the_refresh_tokens_day_ends_in_a_login(
    kafka_bootstrap, topic_factory, sandbox_factory
) -> None:
    sandbox_clock = MovedClock()  # Push.R's clock runs ahead; the relay's does not know
    sandbox = sandbox_factory(
        SandboxConfig(seed=4, access_token_ttl_s=ACCESS_TTL, lifecycle=LIFECYCLE),
        clock=sandbox_clock,
    )

    statuses, relay = await rounds(
        sandbox,
        sandbox_clock,
        SystemClock(),
        kafka_bootstrap,
        topic_factory,
        [ACCESS_TTL + 1, DAY + 1],
    )

    assert statuses == ["delivered"] * 3
    assert token_calls(sandbox) == [
        ("token", 200),
        ("token-refresh", 200),  # after the first 401: a new access token
        ("token-refresh", 401),  # after the second: the refresh token's day is over ...
        ("token", 200),  # ... so the password again
    ]
    assert list_statuses(sandbox).count(401) == 2  # each refusal renewed once, then read
    assert relay.metric("pushr_relay_status_polls_total", {"outcome": "unauthorized"}) == 0


# --- the production path, as `pushr-relay run` ------------------------------------------------

PROXY_PASSWORD = "proxy-password-of-the-run"


def https_values(
    kafka_bootstrap: str,
    sandbox: RunningSandbox,
    topics: Any,
    tls: TlsMaterial,
    proxy_url: str,
    metrics_port: int,
    password: str,
) -> dict[str, Any]:
    return relay_values(
        kafka_bootstrap,
        sandbox,
        topics,
        http_ca_file=tls.ca_file,
        http_proxy=proxy_url,
        pushr_username=DEMO_USERNAME,
        pushr_password=password,
        status_poll_seconds=0.2,
        http_port=metrics_port,
        log_level="DEBUG",
    )


async def scrape(port: int) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(f"http://127.0.0.1:{port}/metrics")).text


async def test_through_a_proxy_over_https_as_the_command_runs(
    kafka_bootstrap, topic_factory, https_sandbox, tls, tinyproxy_factory, tmp_path: Path
) -> None:
    sandbox = https_sandbox(lifecycle=LIFECYCLE)
    proxy = tinyproxy_factory(auth=("relay", PROXY_PASSWORD))
    topics = await make_topics(topic_factory)
    port = free_port()
    values = https_values(
        kafka_bootstrap, sandbox, topics, tls, proxy.url_with_auth, port, DEMO_PASSWORD
    )
    event = sms_event(phone_numbers(1))
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        relay_process(values, tmp_path / "relay.log") as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        await out.wait_for(lambda rs: bool(reports(rs, event["event_id"])), within=90)
        lines = relay.log_lines()

    assert token_calls(sandbox) == [("token", 200)]
    # every request went through the proxy's tunnel: sends, the token and the list
    assert set(proxy.requests()) == {f"CONNECT 127.0.0.1:{sandbox.port} HTTP/1.1"}
    egress = [line for line in lines if line.get("event") == "pushr_http_egress"]
    assert egress[0]["proxy"] == f"http://relay:[REDACTED]@127.0.0.1:{proxy.port}"
    assert [line["step"] for line in lines if line.get("event") == "pushr_jwt_renewed"] == [
        "obtain"
    ]
    text = (tmp_path / "relay.log").read_text()
    assert PROXY_PASSWORD not in text
    assert DEMO_PASSWORD not in text


async def test_a_refused_password_is_counted_and_never_logged(
    kafka_bootstrap, topic_factory, https_sandbox, tls, tinyproxy_factory, tmp_path: Path
) -> None:
    sandbox = https_sandbox(lifecycle=LIFECYCLE)
    proxy = tinyproxy_factory(auth=("relay", PROXY_PASSWORD))
    topics = await make_topics(topic_factory)
    port = free_port()
    wrong = "a-wrong-password-never-logged"
    values = https_values(kafka_bootstrap, sandbox, topics, tls, proxy.url_with_auth, port, wrong)
    event = sms_event(phone_numbers(1))
    async with (
        TopicReader(kafka_bootstrap, topics.outbound) as out,
        relay_process(values, tmp_path / "relay.log") as relay,
    ):
        await produce(kafka_bootstrap, topics.inbound, [event])
        await out.wait_for(lambda rs: any(r.get("type") == "result" for r in rs), within=60)

        async def refused_twice() -> bool:
            text = await scrape(port)
            polls = {"outcome": "unauthorized"}
            return (
                sample_value(parse_exposition(text), "pushr_relay_status_polls_total", polls) >= 2
            )

        await eventually(refused_twice, within=30)
        lines = relay.log_lines()

    failed = [line for line in lines if line.get("event") == "status_poll_failed"]
    assert failed[0]["kind"] == "unauthorized"
    assert failed[0]["detail"] == (
        "Push.R refused the obtain for user 'demo' "
        "(401: No active account found with the given credentials)"
    )
    assert [line["failures"] for line in failed[:2]] == [1, 2]
    assert all(line["retry_in"] >= 0.2 for line in failed)  # backing off, never sooner
    assert {status for _, status in token_calls(sandbox)} == {401}
    assert list_statuses(sandbox) == []  # no token, no list read
    text = (tmp_path / "relay.log").read_text()
    assert wrong not in text
    assert PROXY_PASSWORD not in text
