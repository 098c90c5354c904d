"""OpenTelemetry tracing: off unless configured, and then only thin wrappers around the parts.

The relay depends on `opentelemetry-api` only; the SDK and its OTLP/HTTP exporter are the
`otel` extra (`pip install 'pushr-relay[otel]'`). Tracing is on when the standard variables
ask for an exporter: `OTEL_TRACES_EXPORTER` (`otlp`, `console`; `none` is off) or an OTLP
endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and
`OTEL_SDK_DISABLED` is not `true`. Everything else is the SDK's own reading of `OTEL_*`
(service name and resource attributes, sampler, batch processor, exporter headers, timeouts,
certificates). A tracer provider installed by someone else (`opentelemetry-instrument`) is
used as it is. Installing the extra alone changes nothing: no variable, no tracing.

Off, every `Tracing` method hands back what it was given, so the relay runs exactly the code
it runs without tracing. On, `service.observability.traced` wraps the record handler (one
span per record, continuing the inbound `traceparent`), the ledger, the Push.R client's
HTTP send and the producer (one span per outbound record, whose `traceparent` it carries).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter

from service import __version__
from service.configuration import ConfigurationError
from service.ledger.base import Ledger
from service.pushr.outcomes import SendFn

INSTRUMENTATION: Final = "pushr-relay"
SERVICE_NAME: Final = "pushr-relay"
OTLP_PROTOCOL: Final = "http/protobuf"
EXPORTERS: Final = ("otlp", "console")

KafkaHeaders = Sequence[tuple[str, bytes | None]]


class KafkaHeaderGetter(Getter[KafkaHeaders]):
    """Reads propagation fields (`traceparent`, `tracestate`, `baggage`) from Kafka headers."""

    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        found = [
            value.decode("latin-1")
            for name, value in carrier
            if value is not None and name.lower() == key
        ]
        return found or None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [name for name, _ in carrier]


class Tracing:
    """The relay's tracing: `Tracing.off()` or a tracer from a provider."""

    def __init__(
        self,
        provider: trace.TracerProvider | None,
        *,
        shutdown: Callable[[], Any] | None = None,
    ) -> None:
        self._tracer = (
            provider.get_tracer(INSTRUMENTATION, __version__) if provider is not None else None
        )
        self._shutdown = shutdown

    @classmethod
    def off(cls) -> Tracing:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def handler(self, handle: Any, *, group_id: str) -> Any:
        """The consumer loop's record handler, one span per record when on."""
        if self._tracer is None:
            return handle
        from service.observability.traced import TracedHandler  # noqa: PLC0415 - when on only

        return TracedHandler(handle, self._tracer, group_id=group_id)

    def ledger(self, ledger: Ledger, *, backend: str) -> Ledger:
        if self._tracer is None:
            return ledger
        from service.observability.traced import TracedLedger  # noqa: PLC0415 - when on only

        return TracedLedger(ledger, self._tracer, backend=backend)

    def producer(self, producer: Any) -> Any:
        """What the publishers send through: the producer, or a span per record."""
        if self._tracer is None:
            return producer
        from service.observability.traced import TracedProducer  # noqa: PLC0415 - when on only

        return TracedProducer(producer, self._tracer)

    def http_send(self) -> Callable[[SendFn], SendFn] | None:
        """A wrapper for the Push.R client's send (a span per HTTP attempt); None when off."""
        tracer = self._tracer
        if tracer is None:
            return None
        from service.observability.traced import traced_http_send  # noqa: PLC0415 - when on only

        return lambda send: traced_http_send(send, tracer)

    async def shutdown(self) -> None:
        """Export what is left (the SDK blocks while it does: off the event loop)."""
        if self._shutdown is not None:
            await asyncio.to_thread(self._shutdown)


def _wanted_exporters(environ: Mapping[str, str]) -> list[str]:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [
        name.strip().lower()
        for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    ]
    if named:
        return [] if named == ["none"] else named
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return ["otlp"] if endpoint else []


def tracing_from_environment(environ: Mapping[str, str] | None = None) -> Tracing:
    """The tracing the `OTEL_*` variables ask for (see the module docstring).

    A setting that cannot work raises ConfigurationError, one line, before anything starts.
    """
    environ = os.environ if environ is None else environ
    exporters = _wanted_exporters(environ)
    if not exporters:
        installed = trace.get_tracer_provider()
        if isinstance(installed, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            return Tracing.off()
        return Tracing(installed)  # someone else's provider: theirs to shut down
    unknown = sorted(set(exporters) - set(EXPORTERS))
    if unknown:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not supported; "
            f"use {', '.join(EXPORTERS)} or none"
        )
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or OTLP_PROTOCOL
    )
    if "otlp" in exporters and protocol.strip() != OTLP_PROTOCOL:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol.strip()!r} is not supported; the relay "
            f"exports OTLP over HTTP ({OTLP_PROTOCOL})"
        )
    try:
        from service.observability.tracing_sdk import sdk_provider  # noqa: PLC0415 - optional
    except ImportError as exc:
        raise ConfigurationError(
            "tracing is configured (OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_*ENDPOINT) but "
            "the OpenTelemetry SDK is not installed: pip install 'pushr-relay[otel]'"
        ) from exc
    provider = sdk_provider(exporters, service_name=SERVICE_NAME, version=__version__)
    return Tracing(provider, shutdown=provider.shutdown)
