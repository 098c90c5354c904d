"""The wrappers tracing puts around the relay's parts (see `service.observability.tracing`).

Each wraps one seam and leaves the logic alone:

- `TracedHandler`: a CONSUMER span per Kafka record, `process <topic>`, continuing the W3C
  `traceparent` of the record's headers (a new root when there is none); the parent of all
  the spans below, which asyncio's context carries into the batches' tasks.
- `TracedLedger`: a span per claim, complete, release and get. Renewals are not traced: one
  task renews every batch in the air, so there is no one record they belong to.
- `traced_http_send`: a CLIENT span per Push.R HTTP attempt, HTTP semantic conventions.
  Push.R is a third party: no `traceparent` is sent to it.
- `TracedProducer`: a PRODUCER span per outbound record, `send <topic>`, ended by the
  broker's acknowledgement; the record carries this span's `traceparent`.

Attributes never hold a secret or a full number: no bodies, no query strings, no request
headers; record keys and batch keys pass through the masker. A failure is recorded by its
type only (`error.type`), never its message, which may quote what it failed on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import httpx
from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from service.contract.masking import mask_numbers_in_text
from service.ledger.base import BatchState, Claim, Ledger, LedgerEntry
from service.observability.tracing import KafkaHeaderGetter

REPLAY_HEADER: Final = "pushr-replay-of"
MAX_KEY_CHARS: Final = 128
_HEADERS: Final = KafkaHeaderGetter()


def safe_key(key: bytes | str | None) -> str | None:
    if key is None:
        return None
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    return mask_numbers_in_text(text[:MAX_KEY_CHARS])


def failed(span: Span, exc: BaseException) -> None:
    name = type(exc).__name__
    span.set_attribute("error.type", name)
    span.set_status(Status(StatusCode.ERROR, name))


class TracedHandler:
    def __init__(
        self, handle: Callable[[Any], Awaitable[None]], tracer: trace.Tracer, *, group_id: str
    ) -> None:
        self._handle = handle
        self._tracer = tracer
        self._group = group_id

    async def __call__(self, record: Any) -> None:
        headers = record.headers or ()
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": self._group,
        }
        if (key := safe_key(record.key)) is not None:
            attributes["messaging.kafka.message.key"] = key
        if (replay_of := _HEADERS.get(headers, REPLAY_HEADER)) is not None:
            attributes["pushr_relay.replay_of"] = replay_of[0][:MAX_KEY_CHARS]
        parent = propagate.extract(headers, getter=_HEADERS) if headers else None
        span = self._tracer.start_span(
            f"process {record.topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )
        # attached by hand: the handler runs in a task of its own, and the SDK's context
        # manager costs more than the rest of the span on a path taken by every record
        token = context.attach(trace.set_span_in_context(span, parent))
        marker = _RECORD.set(_Record(span.is_recording()))
        try:
            await self._handle(record)
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            _RECORD.reset(marker)
            context.detach(token)
            span.end()


@dataclass(slots=True)
class _Record:
    """What the children of one record's span need to know, looked up once per record."""

    recording: bool
    propagation: list[tuple[str, bytes]] | None = None  # its context as headers, once made


_RECORD: ContextVar[_Record | None] = ContextVar("pushr_relay_traced_record", default=None)


def sampled_out() -> _Record | None:
    """The current record when its span is not recorded: its children are not made (and
    its context, made into headers once, still travels), which keeps sampling cheap."""
    record = _RECORD.get()
    return record if record is not None and not record.recording else None


def recording() -> bool:
    record = _RECORD.get()
    return record.recording if record is not None else trace.get_current_span().is_recording()


class TracedLedger:
    """A `Ledger` with a span per call (not per renewal, see the module docstring)."""

    def __init__(self, ledger: Ledger, tracer: trace.Tracer, *, backend: str) -> None:
        self._ledger = ledger
        self._tracer = tracer
        self._system = {"db.system.name": "redis"} if backend == "redis" else {}
        self._backend = backend

    def _span(self, operation: str, key: str) -> Span:
        return self._tracer.start_span(
            f"ledger {operation}",
            kind=SpanKind.CLIENT if self._system else SpanKind.INTERNAL,
            attributes={
                **self._system,
                "db.operation.name": operation,
                "pushr_relay.ledger.backend": self._backend,
                "pushr_relay.batch_key": safe_key(key) or "",
            },
        )

    async def _traced(self, operation: str, key: str, call: Awaitable[Any]) -> Any:
        if not recording():
            return await call
        span = self._span(operation, key)
        try:
            answer = await call
        except BaseException as exc:
            failed(span, exc)
            raise
        else:
            if isinstance(answer, Claim):
                span.set_attribute("pushr_relay.ledger.answer", str(answer.status))
            elif isinstance(answer, bool):
                span.set_attribute("pushr_relay.ledger.answer", answer)
            return answer
        finally:
            span.end()

    async def claim(self, key: str, owner: str, lease_seconds: float) -> Claim:
        claim: Claim = await self._traced(
            "claim", key, self._ledger.claim(key, owner, lease_seconds)
        )
        return claim

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        return await self._ledger.renew(key, owner, lease_seconds)

    async def complete(
        self, key: str, owner: str, state: BatchState, result: dict[str, Any]
    ) -> bool:
        done: bool = await self._traced(
            "complete", key, self._ledger.complete(key, owner, state, result)
        )
        return done

    async def release(self, key: str, owner: str) -> bool:
        released: bool = await self._traced("release", key, self._ledger.release(key, owner))
        return released

    async def get(self, key: str) -> LedgerEntry | None:
        entry: LedgerEntry | None = await self._traced("get", key, self._ledger.get(key))
        return entry

    async def ping(self) -> bool:
        return await self._ledger.ping()

    async def close(self) -> None:
        await self._ledger.close()


def traced_http_send(
    send: Callable[[httpx.Request], Awaitable[httpx.Response]], tracer: trace.Tracer
) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    async def send_traced(request: httpx.Request) -> httpx.Response:
        if sampled_out() is not None:
            return await send(request)  # the status poller's requests are traces of their own
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        span = tracer.start_span(
            f"{request.method} {url.path}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                # no query (a `next` link's parameters), no user info
                "url.full": f"{url.scheme}://{url.host}:{port}{url.path}",
                "url.template": url.path,
                "server.address": url.host,
                "server.port": port,
            },
        )
        try:
            response = await send(request)
        except BaseException as exc:
            failed(span, exc)
            span.end()
            raise
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            span.set_attribute("error.type", str(response.status_code))
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        return response

    return send_traced


class TracedProducer:
    """The producer as the publishers use it (`send`), with a span per record."""

    def __init__(self, producer: Any, tracer: trace.Tracer) -> None:
        self._producer = producer
        self._tracer = tracer
        self.client = getattr(producer, "client", None)

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        if (quiet := sampled_out()) is not None:
            # no span, but the record's context still travels (its flags say: not sampled)
            if quiet.propagation is None:
                quiet.propagation = _with_context(None, context.get_current())
            carried = [*(headers or ()), *quiet.propagation]
            untraced: asyncio.Future[Any] = await self._producer.send(
                topic, value=value, key=key, headers=carried, partition=partition
            )
            return untraced
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
        }
        if (safe := safe_key(key)) is not None:
            attributes["messaging.kafka.message.key"] = safe
        for name, header in headers or ():
            if name == "pushr-event-type":
                attributes["pushr_relay.event_type"] = header.decode("ascii", "replace")
        span = self._tracer.start_span(
            f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes
        )
        traced = _with_context(headers, trace.set_span_in_context(span))
        try:
            future: asyncio.Future[Any] = await self._producer.send(
                topic, value=value, key=key, headers=traced, partition=partition
            )
        except BaseException as exc:
            failed(span, exc)
            span.end()
            raise
        future.add_done_callback(lambda done: _acknowledged(span, done))
        return future


def _with_context(
    headers: list[tuple[str, bytes]] | None, where: context.Context
) -> list[tuple[str, bytes]]:
    """A copy of `headers` with the propagation fields of `where` (the shared lists of
    the publisher are never changed)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=where)
    return [*(headers or ()), *((k, v.encode("latin-1")) for k, v in carrier.items())]


def _acknowledged(span: Span, done: asyncio.Future[Any]) -> None:
    if done.cancelled():
        failed(span, asyncio.CancelledError())
    elif (exc := done.exception()) is not None:
        failed(span, exc)
    else:
        metadata = done.result()
        span.set_attributes(
            {
                "messaging.destination.partition.id": str(metadata.partition),
                "messaging.kafka.offset": metadata.offset,
            }
        )
    span.end()
