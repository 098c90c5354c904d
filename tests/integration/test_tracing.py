"""Tracing through the real relay, broker and sandbox: a producer's trace id, carried in the
inbound record's `traceparent`, comes out in the outbound records' `traceparent`, with a span
per record, its ledger calls, its Push.R request and each produce between them. Read once
from the SDK's in-memory exporter (relay in-process) and once as OTLP/HTTP, exported by a
relay process to a receiver this test runs on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from service.app import run
from service.observability.tracing import Tracing
from tests.integration.relay_harness import (
    TopicReader,
    eventually,
    final_status,
    make_topics,
    phone_numbers,
    relay_process,
    relay_settings,
    relay_values,
    sms_event,
)

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PRODUCER_SPAN}-01"


class HeaderReader(TopicReader):
    """Keeps each record's headers beside its value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers: list[dict[str, bytes]] = []

    def received(self, message: Any) -> None:
        self.headers.append(dict(message.headers))


async def produce_traced(bootstrap: str, topic: str, event: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            orjson.dumps(event),
            key=event["event_id"].encode(),
            headers=[("traceparent", TRACEPARENT.encode())],
        )
    finally:
        await producer.stop()


def outbound_trace_ids(reader: HeaderReader) -> set[str]:
    return {h["traceparent"].decode().split("-")[1] for h in reader.headers}


async def test_spans_continue_the_producers_trace_through_the_relay(
    kafka_bootstrap, topic_factory, sandbox
) -> None:
    topics = await make_topics(topic_factory)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    numbers = phone_numbers(2)
    event = sms_event(numbers)
    stop = asyncio.Event()
    relay = asyncio.create_task(
        run(
            relay_settings(kafka_bootstrap, sandbox, topics),
            registry=CollectorRegistry(),
            stop=stop,
            install_signals=False,
            tracing=Tracing(provider),
        )
    )
    try:
        async with HeaderReader(kafka_bootstrap, topics.outbound) as out:
            await produce_traced(kafka_bootstrap, topics.inbound, event)
            await out.wait_for(lambda rs: final_status(rs, event["event_id"]) is not None)
            stop.set()
            assert await asyncio.wait_for(relay, 60) == 0
    finally:
        stop.set()
        provider.shutdown()

    assert outbound_trace_ids(out) == {TRACE_ID}  # accepted, result, sent
    assert {h["pushr-event-type"] for h in out.headers} == {b"status", b"result"}
    spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == int(TRACE_ID, 16)]
    (process,) = [s for s in spans if s.name == f"process {topics.inbound}"]
    assert process.parent is not None
    assert format(process.parent.span_id, "016x") == PRODUCER_SPAN
    children = {
        s.name: s for s in spans if s.parent and s.parent.span_id == process.context.span_id
    }
    assert {"ledger claim", "ledger complete", "POST /api/client/sms/send-sms"} <= set(children)
    sends = [s for s in spans if s.name == f"send {topics.outbound}"]
    assert len(sends) == 3
    assert {format(s.context.span_id, "016x") for s in sends} == {
        h["traceparent"].decode().split("-")[2] for h in out.headers
    }
    http = children["POST /api/client/sms/send-sms"]
    assert (http.attributes or {})["http.response.status_code"] == 201
    everything = str([s.to_json() for s in spans])
    for number in numbers:
        assert number[1:] not in everything
    assert "sk_demo_pushr_relay" not in everything


@contextlib.asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP trace receiver on 127.0.0.1: protobuf bodies in, 200 out."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        received.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(status=200, content_type="application/x-protobuf", body=b"")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


def exported(received: list[ExportTraceServiceRequest]) -> list[tuple[str, Any]]:
    """(service name, span) of every span received."""
    found = []
    for request in received:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                found += [(attributes.get("service.name", ""), span) for span in scope.spans]
    return found


async def test_a_relay_process_exports_its_spans_over_otlp_http(
    kafka_bootstrap, topic_factory, sandbox, tmp_path: Path
) -> None:
    topics = await make_topics(topic_factory)
    event = sms_event(phone_numbers(1))
    async with otlp_receiver() as (endpoint, received):
        values = relay_values(kafka_bootstrap, sandbox, topics)
        with pytest.MonkeyPatch.context() as env:
            # the standard variables only; the relay process inherits them
            env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
            env.delenv("OTEL_TRACES_EXPORTER", raising=False)
            env.delenv("OTEL_SDK_DISABLED", raising=False)
            async with (
                HeaderReader(kafka_bootstrap, topics.outbound) as out,
                relay_process(values, tmp_path / "relay.log") as relay,
            ):
                await relay.wait_logged("relay_started")
                await produce_traced(kafka_bootstrap, topics.inbound, event)
                await out.wait_for(lambda rs: final_status(rs, event["event_id"]) is not None)
                await eventually(
                    lambda: (
                        len([s for _, s in exported(received) if s.name.startswith("send")]) >= 3
                    ),
                    within=30,
                )
                relay.signal(signal.SIGTERM)
                assert await relay.wait() == 0, relay.log_tail()

    assert outbound_trace_ids(out) == {TRACE_ID}
    spans = exported(received)
    assert {service for service, _ in spans} == {"pushr-relay"}
    ours = [s for _, s in spans if s.trace_id.hex() == TRACE_ID]
    (process,) = [s for s in ours if s.name == f"process {topics.inbound}"]
    assert process.parent_span_id.hex() == PRODUCER_SPAN
    names = {s.name for s in ours}
    assert {"ledger claim", "ledger complete", "POST /api/client/sms/send-sms"} <= names
    assert f"send {topics.outbound}" in names
