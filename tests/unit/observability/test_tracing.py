"""Tracing: off by default (the parts are handed back untouched), configured by OTEL_*, and
when on, one span per record continuing the inbound traceparent, its children, and outbound
records that carry it. Spans are read from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from service.clock import ManualClock
from service.configuration import ConfigurationError
from service.ledger.base import BatchState
from service.ledger.memory import MemoryLedger
from service.observability.tracing import Tracing, tracing_from_environment

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@dataclass
class Record:
    topic: str = "sms.requests"
    partition: int = 3
    offset: int = 17
    key: bytes | None = b"order-0558544343"
    value: bytes = b"{}"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Metadata:
    partition: int
    offset: int


class AckingProducer:
    """Stands in for AIOKafkaProducer: keeps each record, acknowledges it at once."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, **record: Any) -> asyncio.Future[Any]:
        self.sent.append({"topic": topic, **record})
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(Metadata(partition=1, offset=len(self.sent) - 1))
        return future


@pytest.fixture
def spans() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider, shutdown=provider.shutdown), exporter


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in finished if s.name == name]
    return span


# --- configuration ---------------------------------------------------------------------------


def test_without_variables_tracing_is_off_and_every_part_is_handed_back() -> None:
    tracing = tracing_from_environment({})
    assert not tracing.enabled
    handler, ledger, producer = object(), MemoryLedger(ManualClock(), 60), object()
    assert tracing.handler(handler, group_id="g") is handler
    assert tracing.ledger(ledger, backend="memory") is ledger
    assert tracing.producer(producer) is producer
    assert tracing.http_send() is None


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
    ],
)
def test_none_or_disabled_is_off(environ: dict[str, str]) -> None:
    assert not tracing_from_environment(environ).enabled


async def test_an_otlp_endpoint_turns_it_on() -> None:
    tracing = tracing_from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert tracing.enabled
    await tracing.shutdown()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: zipkin is not supported"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported",
        ),
    ],
)
def test_settings_that_cannot_work_end_start_up_in_one_line(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        tracing_from_environment(environ)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


# --- spans -----------------------------------------------------------------------------------


async def test_a_record_span_continues_the_inbound_trace_and_parents_its_children(
    spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = spans
    ledger = tracing.ledger(MemoryLedger(ManualClock(), 60), backend="memory")
    producer = AckingProducer()
    sender = tracing.producer(producer)

    async def handle(record: Any) -> None:
        await ledger.claim("order-0558544343#0/1", "me", 30)
        await ledger.complete("order-0558544343#0/1", "me", BatchState.SENT, {})
        ack = await sender.send(
            "sms.events", value=b"{}", key=record.key, headers=[("pushr-event-type", b"status")]
        )
        await ack

    record = Record(headers=[("traceparent", TRACEPARENT.encode()), ("other", b"x")])
    await tracing.handler(handle, group_id="relay")(record)
    await asyncio.sleep(0)  # the acknowledgement's callback ends the produce span

    finished = exporter.get_finished_spans()
    process = by_name(finished, "process sms.requests")
    assert process.kind is SpanKind.CONSUMER
    assert format(process.context.trace_id, "032x") == TRACE_ID
    assert process.parent is not None
    assert format(process.parent.span_id, "016x") == PARENT_ID
    assert process.attributes is not None
    assert process.attributes["messaging.destination.partition.id"] == "3"
    assert process.attributes["messaging.kafka.offset"] == 17
    assert process.attributes["messaging.consumer.group.name"] == "relay"
    children = [s for s in finished if s is not process]
    assert {s.name for s in children} == {"ledger claim", "ledger complete", "send sms.events"}
    for child in children:
        assert child.parent is not None
        assert child.parent.span_id == process.context.span_id
    claim = by_name(finished, "ledger claim")
    assert claim.attributes is not None
    assert claim.attributes["pushr_relay.ledger.answer"] == "claimed"
    send = by_name(finished, "send sms.events")
    assert send.kind is SpanKind.PRODUCER
    assert send.attributes is not None
    assert send.attributes["messaging.kafka.offset"] == 0
    assert send.attributes["pushr_relay.event_type"] == "status"
    # the outbound record carries the produce span's context, in the same trace
    headers = dict(producer.sent[0]["headers"])
    version, trace_id, span_id, _flags = headers["traceparent"].decode().split("-")
    assert (version, trace_id) == ("00", TRACE_ID)
    assert span_id == format(send.context.span_id, "016x")
    # no full number in any attribute (the key held one)
    everything = str([dict(s.attributes or {}) for s in finished])
    assert "0558544343" not in everything
    assert "order-055****343" in everything


async def test_without_a_traceparent_a_record_starts_a_new_trace(
    spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = spans

    async def handle(record: Any) -> None:
        return None

    await tracing.handler(handle, group_id="g")(Record(key=None))
    (span,) = exporter.get_finished_spans()
    assert span.parent is None
    assert format(span.context.trace_id, "032x") != TRACE_ID


async def test_a_failing_record_is_marked_by_the_error_type_only(
    spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = spans

    async def handle(record: Any) -> None:
        raise ValueError("refused 0558544343")

    with pytest.raises(ValueError, match="refused"):
        await tracing.handler(handle, group_id="g")(Record())
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ValueError"
    assert "0558544343" not in str(span.to_json())


async def test_each_http_attempt_is_a_client_span_without_secrets(
    spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = spans
    wrap = tracing.http_send()
    assert wrap is not None

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201 if request.url.path.endswith("send-sms") else 503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        send = wrap(http.send)
        sent = http.build_request(
            "POST",
            "https://user:pw@pushr.example/api/client/sms/send-sms",
            json={"api_key_secret": "sk_live_secret", "recipients": ["233558544343"]},
        )
        assert (await send(sent)).status_code == 201
        listed = http.build_request(
            "GET",
            "https://pushr.example/api/client/sms/?business=1&page=2",
            headers={"Authorization": "Bearer a.jwt.value"},
        )
        assert (await send(listed)).status_code == 503

    first, second = exporter.get_finished_spans()
    assert first.name == "POST /api/client/sms/send-sms"
    assert first.kind is SpanKind.CLIENT
    assert dict(first.attributes or {}) == {
        "http.request.method": "POST",
        "url.full": "https://pushr.example:443/api/client/sms/send-sms",
        "url.template": "/api/client/sms/send-sms",
        "server.address": "pushr.example",
        "server.port": 443,
        "http.response.status_code": 201,
    }
    assert second.status.status_code is StatusCode.ERROR
    assert (second.attributes or {})["error.type"] == "503"
    text = str([s.to_json() for s in (first, second)])
    for secret in ("sk_live_secret", "a.jwt.value", "pw@", "233558544343", "page=2"):
        assert secret not in text


async def test_a_sampled_out_record_makes_no_spans_and_still_passes_its_context_on() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # parent-based: an unsampled parent is not recorded
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    ledger = tracing.ledger(MemoryLedger(ManualClock(), 60), backend="memory")
    producer = AckingProducer()
    sender = tracing.producer(producer)

    async def handle(record: Any) -> None:
        await ledger.claim("k#0/1", "me", 30)
        for _ in range(2):
            await (await sender.send("out", value=b"{}", key=b"k", headers=[("a", b"1")]))

    unsampled = f"00-{TRACE_ID}-{PARENT_ID}-00"
    await tracing.handler(handle, group_id="g")(
        Record(headers=[("traceparent", unsampled.encode())])
    )
    await asyncio.sleep(0)
    assert exporter.get_finished_spans() == ()
    for sent in producer.sent:
        headers = dict(sent["headers"])
        assert headers["a"] == b"1"
        _version, trace_id, _span, flags = headers["traceparent"].decode().split("-")
        assert (trace_id, flags) == (TRACE_ID, "00")
