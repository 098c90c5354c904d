"""The list reader's use of the credentials seam: a 401 renews once and reads again; a second
401, or credentials that cannot be had, fail the read (and the poller backs off and counts
`unauthorized`). Over httpx.MockTransport with a ManualClock."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from service.clock import ManualClock
from service.observability.metrics import Metrics
from service.pushr.breaker import BreakerSet
from service.pushr.client import PushrClient
from service.pushr.credentials import PasswordLogin
from service.pushr.ratelimit import RateLimiter
from service.settings import Settings
from service.status.list_reader import ListReadError, MessageListReader
from service.status.poller import StatusPoller
from service.status.tracked import MemoryTrackStore, TrackedMessage
from tests.fixtures.metrics import sample_value
from tests.unit.jitter import TopOfRange
from tests.unit.pushr.simplejwt_fake import BASE, PASSWORD, SITE, USER, TokenApi

INTERVAL = 30.0


@dataclass
class Rig:
    reader: MessageListReader
    login: PasswordLogin
    api: TokenApi
    clock: ManualClock
    client: PushrClient


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = ManualClock()
    api = TokenApi(clock)
    settings = Settings(pushr_base_url=BASE, retry_max_attempts=1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        client = PushrClient(
            http,
            settings,
            clock=clock,
            rng=random.Random(1),
            breakers=BreakerSet.from_settings(settings, clock),
            limiter=RateLimiter.from_settings(settings, clock),
        )
        login = PasswordLogin(
            http,
            obtain_url=f"{SITE}/api/token/",
            refresh_url=f"{SITE}/api/token/refresh/",
            username=USER,
            password=SecretStr(PASSWORD),
            clock=clock,
            renew_margin=30.0,
        )
        yield Rig(
            MessageListReader(client, business=1, credentials=login), login, api, clock, client
        )


async def test_a_401_renews_once_and_reads_again(rig: Rig) -> None:
    await rig.reader.page()
    rig.api.revoked.add(rig.login._access)  # refused early (revoked, or Push.R's clock ahead)

    page = await rig.reader.page()

    assert [entry.id for entry in page.entries] == [1]
    first, refused, renewed = rig.api.list_calls
    assert refused == first
    assert renewed != refused
    assert rig.api.paths() == ["/api/token/", "/api/token/refresh/"]


async def test_a_second_401_fails_the_read_as_unauthorized(rig: Rig) -> None:
    await rig.reader.page()
    rig.api.valid = lambda token, kind: kind == "refresh"  # type: ignore[method-assign]

    with pytest.raises(ListReadError) as failed:
        await rig.reader.page()

    assert failed.value.kind == "unauthorized"
    assert len(rig.api.list_calls) == 3  # the first read, the refused one, one retry: no more


@pytest.mark.parametrize(("answer", "kind"), [(401, "unauthorized"), (503, "error")])
async def test_credentials_that_cannot_be_had_fail_the_read(
    rig: Rig, answer: int, kind: str
) -> None:
    rig.api.answers = [answer]
    with pytest.raises(ListReadError) as failed:
        await rig.reader.page()
    assert failed.value.kind == kind
    assert rig.api.list_calls == []  # no token, no list request


async def test_the_poller_backs_off_and_counts_unauthorized(rig: Rig) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    store = MemoryTrackStore()
    await store.add(TrackedMessage(1, "evt-1", None, 0, 1, tracked_at=rig.clock.now()))

    class Lease:
        async def acquire(self) -> bool:
            return True

        async def release(self) -> None:
            return None

    poller = StatusPoller(
        reader=rig.reader,
        publisher=None,  # type: ignore[arg-type]  # nothing is published before a page is read
        store=store,
        lease=Lease(),
        metrics=metrics,
        clock=rig.clock,
        rng=TopOfRange(),
        poll_seconds=INTERVAL,
        track_ttl_seconds=3600,
    )
    rig.api.answers = [401, 401, 401]  # the password is refused: obtain fails every round

    delays = [await poller.round() for _ in range(3)]

    assert delays == [INTERVAL, 2 * INTERVAL, 4 * INTERVAL]
    assert (
        sample_value(registry, "pushr_relay_status_polls_total", {"outcome": "unauthorized"}) == 3
    )
    assert [m.message_id for m in await store.all()] == [1]  # still tracked, nothing lost
