"""The OpenTelemetry SDK's tracer provider, set up from the `OTEL_*` variables.

Imported only when tracing is configured: the SDK and the OTLP/HTTP exporter are the `otel`
extra, absent from a minimal install. The SDK reads its own variables here: the resource
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), the sampler (`OTEL_TRACES_SAMPLER`,
`OTEL_TRACES_SAMPLER_ARG`), the batch processor (`OTEL_BSP_*`) and the exporter
(`OTEL_EXPORTER_OTLP_*`: endpoint, headers, timeout, compression, certificates).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)


def sdk_provider(exporters: Sequence[str], *, service_name: str, version: str) -> TracerProvider:
    """A provider exporting through each named exporter (`otlp`, `console`) in batches."""
    resource = Resource.create({SERVICE_VERSION: version})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        # the SDK's stand-in when no variable names the service
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    for name in exporters:
        exporter: SpanExporter = OTLPSpanExporter() if name == "otlp" else ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
