"""OpenTelemetry tracing: off unless the standard OTEL_* variables turn it on.

On when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`; `none` keeps it off) or
an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
and `OTEL_SDK_DISABLED` is not `true`. Then every HTTP request and WebSocket is a server span
(the ASGI instrumentation, continuing a caller's `traceparent`), every PostgreSQL statement
a client span (asyncpg) and every broker command one too (Redis: PUBLISH, SUBSCRIBE), sent
in batches over OTLP/HTTP with protobuf. The SDK reads the rest of its configuration from its
own variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`). SQLite statements run on a thread of aiosqlite's and
are not traced.
"""

from __future__ import annotations

import logging
from typing import Any

from app import __version__
from app.config import service_name_set, trace_exporters

log = logging.getLogger(__name__)

_provider: Any = None


def configure() -> bool:
    """Set tracing up for this process when the environment asks for it (once); whether on."""
    global _provider
    if _provider is not None:
        return True
    exporters = trace_exporters()
    if not exporters:
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    attributes: dict[str, str] = {SERVICE_VERSION: __version__}
    if not service_name_set():
        attributes[SERVICE_NAME] = "incidentgraph"
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in exporters:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            log.warning("OTEL_TRACES_EXPORTER: unknown exporter %r left out", name)
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument()
    _provider = provider
    log.info("OpenTelemetry tracing on")
    return True


def middleware() -> Any:
    """The ASGI middleware making each request a server span."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware


def shutdown() -> None:
    """Send what is still buffered (at the end of the lifespan)."""
    if _provider is not None:
        _provider.force_flush()
