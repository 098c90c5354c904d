"""PushrClient over httpx.MockTransport: requests as Push.R documents them, the outcome
table end to end, retries, Retry-After, breaker and rate limit. Time is a ManualClock."""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import httpx
import orjson
import pytest
from pydantic import SecretStr

from service.clock import ManualClock
from service.priority import Priority
from service.pushr.breaker import BreakerSet
from service.pushr.client import PushrClient
from service.pushr.outcomes import ClientHooks, Outcome, ProviderResult, SendTurn
from service.pushr.ratelimit import RateLimiter
from service.settings import Settings

PUBLIC = "pk_test_public_123"
SECRET = "sk_test_secret_456"
ACCEPTED_BODY = {
    "id": 123,
    "business": 1,
    "message": "Hello",
    "status": "sent",
    "created": "2024-01-15T10:30:00Z",
    "cost": "2.50",
    "sender_id": "PYWE",
    "recipients_count": 2,
}

Handler = Callable[[httpx.Request], httpx.Response]


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "pushr_base_url": "http://pushr.test/api/client",
        "pushr_api_key_public": SecretStr(PUBLIC),
        "pushr_api_key_secret": SecretStr(SECRET),
        "retry_max_attempts": 4,
        "retry_backoff_base": 0.2,
        "retry_backoff_cap": 20.0,
        "retry_after_cap": 60.0,
        "breaker_consecutive_failures": 5,
        "breaker_failure_rate": 0.5,
        "breaker_window": 20,
        "breaker_open_seconds": 5.0,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@dataclass
class Recorder:
    requests: list[tuple[str, str]] = field(default_factory=list)
    latencies: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    breaker: list[tuple[str, str]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def hooks(self) -> ClientHooks:
        return ClientHooks(
            on_request=lambda e, o: self.requests.append((e, str(o))),
            on_latency=lambda e, _s: self.latencies.append(e),
            on_retry=self.retries.append,
        )


@dataclass
class Harness:
    client: PushrClient
    clock: ManualClock
    seen: list[httpx.Request]
    rec: Recorder


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Harness]]:
    opened: list[httpx.AsyncClient] = []

    def build(handler: Handler, **overrides: object) -> Harness:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        s = settings(**overrides)
        clock = ManualClock()
        rec = Recorder()
        http = httpx.AsyncClient(transport=httpx.MockTransport(record))
        opened.append(http)
        client = PushrClient(
            http,
            s,
            clock=clock,
            rng=random.Random(42),
            breakers=BreakerSet.from_settings(
                s, clock, on_state_change=lambda e, st: rec.breaker.append((e, st))
            ),
            limiter=RateLimiter.from_settings(s, clock, on_wait=rec.waits.append),
            hooks=rec.hooks(),
        )
        return Harness(client, clock, seen, rec)

    yield build
    for http in opened:
        await http.aclose()


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    content = b"" if body is None else orjson.dumps(body)
    return lambda _req: httpx.Response(status, content=content, headers=headers)


def sequence(*handlers: Handler) -> Handler:
    """One handler per attempt, in order."""
    it = iter(handlers)

    def handler(request: httpx.Request) -> httpx.Response:
        return next(it)(request)

    return handler


def raising(exc_type: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    return handler


async def send(h: Harness, **kw: object) -> ProviderResult:
    args: dict[str, object] = {
        "message": "Hello",
        "recipients": ["233558544343", "233548769324"],
        "sender_id": "PYWE",
        "scheduled_at": None,
    }
    args.update(kw)
    return await h.client.send_sms(**args)  # type: ignore[arg-type]


# --- request shapes -------------------------------------------------------------------------


async def test_send_sms_request_is_documented_shape(make: Callable[..., Harness]) -> None:
    h = make(answer(201, ACCEPTED_BODY))
    result = await h.client.send_sms(
        message="Hello", recipients=["233558544343"], sender_id="PYWE", scheduled_at=None
    )
    assert result.outcome is Outcome.ACCEPTED
    assert result.body == ACCEPTED_BODY
    assert (result.status_code, result.attempts) == (201, 1)
    (req,) = h.seen
    assert req.method == "POST"
    assert str(req.url) == "http://pushr.test/api/client/sms/send-sms"
    assert req.headers["content-type"] == "application/json"
    assert orjson.loads(req.content) == {
        "api_key_public": PUBLIC,
        "api_key_secret": SECRET,
        "message": "Hello",
        "recipients": ["233558544343"],
        "sender_id": "PYWE",
        "scheduled": False,
    }
    assert h.rec.requests == [("send-sms", "accepted")]
    assert h.rec.latencies == ["send-sms"]


async def test_scheduled_send_in_utc_and_no_sender(make: Callable[..., Harness]) -> None:
    h = make(answer(201, ACCEPTED_BODY))
    when = datetime(2030, 1, 20, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    await send(h, sender_id=None, scheduled_at=when)
    body = orjson.loads(h.seen[0].content)
    assert body["scheduled"] is True
    assert body["time_scheduled"] == "2030-01-20T14:30:00Z"
    assert "sender_id" not in body


async def test_naive_schedule_refused(make: Callable[..., Harness]) -> None:
    h = make(answer(201, ACCEPTED_BODY))
    with pytest.raises(ValueError, match="timezone-aware"):
        await send(h, scheduled_at=datetime(2030, 1, 1))
    assert h.seen == []


async def test_send_custom_is_multipart(make: Callable[..., Harness]) -> None:
    h = make(answer(201, {"recipients_count": 1, "status": "PROCESSING"}))
    csv = b"contact,name\n233558544343,Ama\n"
    result = await h.client.send_custom(
        business=7,
        sender_id="PYWE",
        template="Hi {name}",
        csv_bytes=csv,
        scheduled_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert result.outcome is Outcome.ACCEPTED
    assert result.body == {"recipients_count": 1, "status": "PROCESSING"}
    (req,) = h.seen
    assert str(req.url) == "http://pushr.test/api/client/sms/custom"
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    content = req.content
    for name, value in [
        ("business", b"7"),
        ("sender_id", b"PYWE"),
        ("template", b"Hi {name}"),
        ("scheduled", b"true"),
        ("time_scheduled", b"2030-01-01T00:00:00Z"),
        ("api_key_public", PUBLIC.encode()),
        ("api_key_secret", SECRET.encode()),
    ]:
        assert f'name="{name}"\r\n\r\n'.encode() + value + b"\r\n" in content
    assert b'name="csv_file"; filename="recipients.csv"' in content
    assert csv in content


async def test_list_messages_with_bearer_and_next(make: Callable[..., Harness]) -> None:
    page = {"data": [], "count": 0, "next": None, "previous": None}
    h = make(answer(200, page))
    result = await h.client.list_messages(business=3, jwt="jwt-token-abc")
    assert result.outcome is Outcome.ACCEPTED
    assert result.body == page
    assert str(h.seen[0].url) == "http://pushr.test/api/client/sms/?business=3"
    assert h.seen[0].headers["authorization"] == "Bearer jwt-token-abc"
    nxt = "http://pushr.test/api/client/sms/?business=3&page=2"
    await h.client.list_messages(business=3, jwt="jwt-token-abc", url=nxt)
    assert str(h.seen[1].url) == nxt
    with pytest.raises(ValueError, match="another origin"):
        await h.client.list_messages(business=3, jwt="t", url="https://evil.test/sms/?page=2")
    assert len(h.seen) == 2


# --- the outcome table through the client ------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "outcome", "attempts"),
    [
        (answer(201, ACCEPTED_BODY), Outcome.ACCEPTED, 1),
        (
            answer(400, {"detail": "Insufficient balance to send messages."}),
            Outcome.INSUFFICIENT_BALANCE,
            1,
        ),
        (answer(400, {"sender_id": ["Invalid sender ID."]}), Outcome.REJECTED, 1),
        (answer(404, {"detail": "Not found."}), Outcome.REJECTED, 1),
        (answer(401, {"detail": "Invalid API keys."}), Outcome.UNAUTHORIZED, 1),
        (answer(403, {"detail": "Forbidden."}), Outcome.UNAUTHORIZED, 1),
        (answer(408), Outcome.RETRY_SAFE, 4),
        (answer(429), Outcome.RETRY_SAFE, 4),
        (answer(500), Outcome.RETRY_SAFE, 4),
        (answer(502), Outcome.RETRY_SAFE, 4),
        (answer(503), Outcome.RETRY_SAFE, 4),
        (raising(httpx.ConnectError), Outcome.RETRY_SAFE, 4),
        (raising(httpx.ConnectTimeout), Outcome.RETRY_SAFE, 4),
        (raising(httpx.PoolTimeout), Outcome.RETRY_SAFE, 4),
        (raising(httpx.ReadTimeout), Outcome.AMBIGUOUS, 1),
        (raising(httpx.WriteTimeout), Outcome.AMBIGUOUS, 1),
        (raising(httpx.ReadError), Outcome.AMBIGUOUS, 1),
        (raising(httpx.RemoteProtocolError), Outcome.AMBIGUOUS, 1),
    ],
)
async def test_outcome_table(
    make: Callable[..., Harness], handler: Handler, outcome: Outcome, attempts: int
) -> None:
    h = make(handler)
    result = await send(h)
    assert result.outcome is outcome
    assert result.attempts == attempts
    assert len(h.seen) == attempts
    assert h.rec.retries == ["send-sms"] * (attempts - 1)
    assert "233558544343" not in result.detail
    assert SECRET not in result.detail


async def test_retries_then_success_with_jittered_backoff(make: Callable[..., Harness]) -> None:
    h = make(sequence(answer(503), answer(502), answer(201, ACCEPTED_BODY)))
    result = await send(h)
    assert result.outcome is Outcome.ACCEPTED
    assert result.attempts == 3
    assert len(h.clock.slept) == 2
    assert 0 <= h.clock.slept[0] <= 0.2
    assert 0 <= h.clock.slept[1] <= 0.4
    assert result.latency_seconds == pytest.approx(sum(h.clock.slept))
    assert h.rec.requests == [
        ("send-sms", "retry_safe"),
        ("send-sms", "retry_safe"),
        ("send-sms", "accepted"),
    ]


async def test_stops_at_max_attempts_and_returns_last(make: Callable[..., Harness]) -> None:
    h = make(answer(500, {"detail": "Server Error (500)"}), retry_max_attempts=3)
    result = await send(h)
    assert result.outcome is Outcome.RETRY_SAFE
    assert (result.attempts, result.status_code) == (3, 500)
    assert result.detail == "HTTP 500: Server Error (500)"
    assert len(h.clock.slept) == 2


async def test_retry_after_seconds_honoured_and_held_for_all(
    make: Callable[..., Harness],
) -> None:
    h = make(sequence(answer(429, headers={"Retry-After": "7"}), answer(201, ACCEPTED_BODY)))
    result = await send(h)
    assert result.outcome is Outcome.ACCEPTED
    assert h.clock.slept == [7.0]  # max(7, jitter <= 0.2)
    assert h.rec.breaker == []  # 429 is flow control, not a breaker failure


async def test_retry_after_http_date_and_cap(make: Callable[..., Harness]) -> None:
    clock_start = ManualClock().now()
    date = email.utils.formatdate(clock_start + 30, usegmt=True)
    h = make(
        sequence(
            answer(503, headers={"Retry-After": date}),
            answer(503, headers={"Retry-After": "3600"}),
            answer(201, ACCEPTED_BODY),
        )
    )
    await send(h)
    assert h.clock.slept == pytest.approx([30.0, 60.0])  # second one capped at 60


async def test_retry_after_holds_the_next_caller(make: Callable[..., Harness]) -> None:
    h = make(
        sequence(answer(429, headers={"Retry-After": "4"}), answer(201, ACCEPTED_BODY)),
        retry_max_attempts=1,
    )
    first = await send(h)
    assert (first.outcome, first.retry_after) == (Outcome.RETRY_SAFE, 4.0)
    assert h.clock.slept == []
    second = await send(h)  # a different caller: it too waits for Push.R's 4 s
    assert second.outcome is Outcome.ACCEPTED
    assert h.clock.slept == [4.0]
    assert h.rec.waits == [4.0]


async def test_time_budget_stops_retrying(make: Callable[..., Harness]) -> None:
    h = make(answer(503, headers={"Retry-After": "30"}))
    result = await send(h, time_budget=10.0)
    assert result.outcome is Outcome.RETRY_SAFE
    assert result.attempts == 1
    assert result.retry_after == 30.0
    assert h.clock.slept == []


async def test_list_read_timeout_is_retried(make: Callable[..., Harness]) -> None:
    h = make(sequence(raising(httpx.ReadTimeout), answer(200, {"data": []})))
    result = await h.client.list_messages(business=1, jwt="j")
    assert result.outcome is Outcome.ACCEPTED
    assert result.attempts == 2


async def test_accepted_without_json_is_still_accepted(make: Callable[..., Harness]) -> None:
    h = make(lambda _r: httpx.Response(201, content=b"created"))
    result = await send(h)
    assert result.outcome is Outcome.ACCEPTED
    assert result.body is None


# --- breaker and rate limit through the client --------------------------------------------


async def test_breaker_opens_and_refuses_without_sending(make: Callable[..., Harness]) -> None:
    h = make(raising(httpx.ConnectError), retry_max_attempts=1, breaker_consecutive_failures=3)
    for _ in range(3):
        assert (await send(h)).outcome is Outcome.RETRY_SAFE
    result = await send(h)
    assert result.outcome is Outcome.BREAKER_OPEN
    assert result.attempts == 0
    assert result.retry_after == 5.0
    assert len(h.seen) == 3
    assert h.rec.breaker == [("send-sms", "open")]
    assert h.rec.requests[-1] == ("send-sms", "breaker_open")


async def test_breaker_opening_mid_retries_returns_breaker_open(
    make: Callable[..., Harness],
) -> None:
    h = make(answer(503), retry_max_attempts=6, breaker_consecutive_failures=2)
    result = await send(h)
    assert result.outcome is Outcome.BREAKER_OPEN
    assert result.attempts == 2
    assert len(h.seen) == 2


async def test_half_open_one_probe_concurrent_callers_refused(
    make: Callable[..., Harness],
) -> None:
    gate = asyncio.Event()
    failing = [True]

    async def handler(request: httpx.Request) -> httpx.Response:
        if failing[0]:
            raise httpx.ConnectError("down", request=request)
        await gate.wait()  # the probe hangs until released
        return httpx.Response(201, content=orjson.dumps(ACCEPTED_BODY))

    h = make(handler, retry_max_attempts=1, breaker_consecutive_failures=2)
    await send(h)
    await send(h)
    failing[0] = False
    h.clock.advance(5.0)
    probe = asyncio.create_task(send(h))
    await asyncio.sleep(0)
    others = await asyncio.gather(*(send(h) for _ in range(20)))
    assert {r.outcome for r in others} == {Outcome.BREAKER_OPEN}
    assert len(h.seen) == 3  # two failures and the one probe
    gate.set()
    assert (await probe).outcome is Outcome.ACCEPTED
    assert h.rec.breaker == [
        ("send-sms", "open"),
        ("send-sms", "half_open"),
        ("send-sms", "closed"),
    ]
    assert (await send(h)).outcome is Outcome.ACCEPTED


async def test_rejections_do_not_open_the_breaker(make: Callable[..., Harness]) -> None:
    h = make(answer(400, {"detail": "bad"}), breaker_consecutive_failures=1)
    for _ in range(5):
        assert (await send(h)).outcome is Outcome.REJECTED
    assert h.rec.breaker == []


async def test_rate_limit_spaces_attempts(make: Callable[..., Harness]) -> None:
    h = make(answer(201, ACCEPTED_BODY), rate_limit_rps=4.0)
    for _ in range(4):
        await send(h)
    assert h.clock.slept == pytest.approx([0.25, 0.25, 0.25])
    assert h.rec.waits == pytest.approx([0.25, 0.25, 0.25])


async def test_cancelled_probe_frees_the_slot(make: Callable[..., Harness]) -> None:
    gate = asyncio.Event()
    failing = [True]

    async def handler(request: httpx.Request) -> httpx.Response:
        if failing[0]:
            raise httpx.ConnectError("down", request=request)
        await gate.wait()
        return httpx.Response(201, content=orjson.dumps(ACCEPTED_BODY))

    h = make(handler, retry_max_attempts=1, breaker_consecutive_failures=1)
    await send(h)
    failing[0] = False
    h.clock.advance(5.0)
    probe = asyncio.create_task(send(h))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    gate.set()
    assert (await send(h)).outcome is Outcome.ACCEPTED


# --- one attempt per turn: the deliverer's batches ----------------------------------------


async def test_a_turn_makes_one_attempt_and_counts_on_from_earlier_ones(
    make: Callable[..., Harness],
) -> None:
    h = make(answer(503), retry_max_attempts=6)
    requested: list[int] = []
    turn = SendTurn(attempts_before=2, on_request=lambda: requested.append(len(h.seen)))
    result = await send(h, turn=turn)
    assert result.outcome is Outcome.RETRY_SAFE
    assert len(h.seen) == 1  # the caller retries, after giving back its slot and claim
    assert result.attempts == 3
    assert h.rec.retries == ["send-sms"]  # the third attempt of the batch is a retry
    assert requested == [0]  # told right before the request went out
    assert h.clock.slept == []


async def test_a_turn_past_its_expiry_after_the_rate_limit_sends_nothing(
    make: Callable[..., Harness],
) -> None:
    h = make(answer(201, ACCEPTED_BODY), rate_limit_rps=1.0)
    assert (await send(h)).outcome is Outcome.ACCEPTED  # takes the slot now
    # the next slot is 1 s away; the batch expires half-way through that wait
    turn = SendTurn(lane="critical", expires_at=h.clock.now() + 0.5)
    result = await send(h, turn=turn)
    assert result.outcome is Outcome.EXPIRED
    assert result.attempts == 0
    assert len(h.seen) == 1
    assert h.clock.slept == [1.0]
    assert h.rec.requests == [("send-sms", "accepted")]  # nothing reached the network


async def test_rate_limit_waiters_take_tokens_in_lane_order(
    make: Callable[..., Harness],
) -> None:
    h = make(answer(201, ACCEPTED_BODY), rate_limit_rps=10.0)
    order: list[str] = []

    async def batch(lane: Priority, name: str) -> None:
        await send(h, turn=SendTurn(lane=lane))
        order.append(name)

    await send(h)  # the bucket's first slot is taken: everyone below waits in line
    waiters = [asyncio.create_task(batch("bulk", f"bulk-{i}")) for i in range(3)]
    await asyncio.sleep(0)
    waiters.append(asyncio.create_task(batch("critical", "otp")))
    await asyncio.gather(*waiters)
    assert order[0] == "otp"
    assert sorted(order[1:]) == ["bulk-0", "bulk-1", "bulk-2"]
