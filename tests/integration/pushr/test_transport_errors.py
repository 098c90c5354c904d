"""Exception mapping of EVERY transport against real sockets: the same network event
must raise the same kind of httpx exception and classify to the same outcome."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvloop
from pydantic import SecretStr

from service.clock import SystemClock
from service.pushr.breaker import BreakerSet
from service.pushr.classify import classify_exception
from service.pushr.client import PushrClient
from service.pushr.lean_transport import LeanTransport
from service.pushr.outcomes import Outcome
from service.pushr.ratelimit import RateLimiter
from service.pushr.transport import MappedAiohttpTransport, build_http_client
from service.settings import Settings
from tests.integration.pushr import servers
from tests.integration.pushr.servers import RawServer

pytestmark = pytest.mark.timeout(30)


def settings(transport: str, base_url: str = "http://127.0.0.1:1/api/client") -> Settings:
    return Settings(
        http_transport=transport,
        http_connect_timeout=1.0,
        http_read_timeout=0.3,
        http_write_timeout=0.3,
        http_pool_timeout=0.2,
        http_max_connections=1,
        retry_max_attempts=1,
        pushr_base_url=base_url,
        pushr_api_key_public=SecretStr("pk_integration"),
        pushr_api_key_secret=SecretStr("sk_integration"),
    )


@pytest.fixture(params=["httpx", "aiohttp", "lean"])
async def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def http(transport: str) -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(settings(transport)) as client:
        yield client


async def post(http: httpx.AsyncClient, url: str, content: bytes = b'{"a": 1}') -> httpx.Response:
    return await http.post(url, content=content, headers={"Content-Type": "application/json"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_transport_is_the_one_asked_for(transport: str, http: httpx.AsyncClient) -> None:
    inner = http._transport
    expected = {
        "aiohttp": MappedAiohttpTransport,
        "httpx": httpx.AsyncHTTPTransport,
        "lean": LeanTransport,
    }[transport]
    assert isinstance(inner, expected)


async def test_answer_is_read(http: httpx.AsyncClient) -> None:
    async with RawServer(servers.answer_201) as server:
        for _ in range(3):  # and the kept-alive connection is reused
            response = await post(http, server.url)
            assert response.status_code == 201
            assert response.json()["id"] == 1


@pytest.mark.parametrize("behaviour", [servers.answer_chunked, servers.answer_until_close])
async def test_answers_framed_by_chunks_or_by_the_close_are_read(
    http: httpx.AsyncClient, behaviour: servers.Behaviour
) -> None:
    async with RawServer(behaviour) as server:
        for _ in range(2):  # and the connection a closed answer leaves is not reused
            response = await post(http, server.url)
            assert (response.status_code, response.json()) == (201, {"id": 1})


async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    http: httpx.AsyncClient,
) -> None:
    async with RawServer(servers.answer_once_then_close) as server:
        assert (await post(http, server.url)).status_code == 201
        await asyncio.sleep(0.1)  # the server's close reaches the client
        assert (await post(http, server.url)).status_code == 201


def test_answer_is_read_on_uvloop(transport: str) -> None:
    # the relay runs on uvloop, whose transports are not asyncio's classes
    async def exchange() -> list[int]:
        async with (
            RawServer(servers.answer_201) as server,
            build_http_client(settings(transport)) as client,
        ):
            return [(await post(client, server.url)).status_code for _ in range(3)]

    assert uvloop.run(exchange()) == [201, 201, 201]


async def test_connection_refused_is_retry_safe(http: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        await post(http, f"http://127.0.0.1:{free_port()}/")
    assert classify_exception(caught.value) is Outcome.RETRY_SAFE


async def test_no_answer_is_a_read_timeout(http: httpx.AsyncClient) -> None:
    async with RawServer(servers.never_answer) as server:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await post(http, server.url)
    assert classify_exception(caught.value) is Outcome.AMBIGUOUS


async def test_close_without_answer_is_ambiguous(http: httpx.AsyncClient) -> None:
    # httpx-aiohttp 0.2 alone says ConnectTimeout here: "never sent", a duplicate in waiting
    async with RawServer(servers.close_without_answer) as server:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await post(http, server.url)
    assert classify_exception(caught.value) is Outcome.AMBIGUOUS


async def test_reset_without_answer_is_ambiguous(http: httpx.AsyncClient) -> None:
    async with RawServer(servers.reset_without_answer) as server:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as caught:
            await post(http, server.url)
    assert classify_exception(caught.value) is Outcome.AMBIGUOUS


@pytest.mark.parametrize("behaviour", [servers.half_then_close, servers.half_then_reset])
async def test_half_an_answer_is_ambiguous(
    http: httpx.AsyncClient, behaviour: servers.Behaviour
) -> None:
    async with RawServer(behaviour) as server:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as caught:
            await post(http, server.url)
    assert classify_exception(caught.value) is Outcome.AMBIGUOUS


# aiohttp warns about bodies over 1 MiB; a stall needs more than the socket buffers hold.
@pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")
async def test_stalled_upload_is_ambiguous(http: httpx.AsyncClient) -> None:
    # More than loopback's socket buffers hold, to a server that never reads. httpx raises
    # WriteTimeout; aiohttp has no write timeout and its read timeout fires instead.
    async with RawServer(servers.never_read) as server:
        with pytest.raises((httpx.WriteTimeout, httpx.ReadTimeout)) as caught:
            await post(http, server.url, content=b"x" * (32 * 1024 * 1024))
    assert classify_exception(caught.value) is Outcome.AMBIGUOUS


async def test_no_free_connection_is_retry_safe(http: httpx.AsyncClient) -> None:
    async with RawServer(servers.never_answer) as server:
        # holds the only connection for longer than the second request waits for it
        # (aiohttp waits pool + connect timeouts: the same budget, spent as aiohttp counts)
        hung = asyncio.create_task(
            http.post(server.url, content=b"{}", timeout=httpx.Timeout(1.0, read=10.0))
        )
        await asyncio.sleep(0.1)
        with pytest.raises((httpx.PoolTimeout, httpx.ConnectTimeout)) as caught:
            await post(http, server.url)
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung
    assert classify_exception(caught.value) is Outcome.RETRY_SAFE


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        (servers.answer_201, Outcome.ACCEPTED),
        (servers.never_answer, Outcome.AMBIGUOUS),
        (servers.close_without_answer, Outcome.AMBIGUOUS),
        (servers.half_then_reset, Outcome.AMBIGUOUS),
    ],
)
async def test_client_outcomes_over_real_sockets(
    transport: str, behaviour: servers.Behaviour, outcome: Outcome
) -> None:
    async with RawServer(behaviour) as server:
        s = settings(transport, f"{server.url}/api/client")
        clock = SystemClock()
        async with build_http_client(s) as http:
            client = PushrClient(
                http,
                s,
                clock=clock,
                rng=random.Random(1),
                breakers=BreakerSet.from_settings(s, clock),
                limiter=RateLimiter.from_settings(s, clock),
            )
            result = await client.send_sms(
                message="Hi", recipients=["233558544343"], sender_id=None, scheduled_at=None
            )
    assert result.outcome is outcome
    assert result.attempts == 1


async def test_client_connect_refused_is_retried(transport: str) -> None:
    s = settings(transport, f"http://127.0.0.1:{free_port()}/api/client")
    s = s.model_copy(update={"retry_max_attempts": 2, "retry_backoff_base": 0.01})
    clock = SystemClock()
    async with build_http_client(s) as http:
        client = PushrClient(
            http,
            s,
            clock=clock,
            rng=random.Random(1),
            breakers=BreakerSet.from_settings(s, clock),
            limiter=RateLimiter.from_settings(s, clock),
        )
        result = await client.send_sms(
            message="Hi", recipients=["233558544343"], sender_id=None, scheduled_at=None
        )
    assert (result.outcome, result.attempts) == (Outcome.RETRY_SAFE, 2)
    assert result.detail == "ConnectError"
