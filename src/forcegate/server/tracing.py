"""OpenTelemetry tracing (the ``[otel]`` extra, ``tracing = true``): one span per request, store calls inside.

Each HTTP request is a server span named after its route (``POST /oauth2/token``), continuing the
caller's trace when it sends W3C ``traceparent``; each store call is a child span (``trust.org``,
``grants.record``); the authentication decision is recorded on the request's span as attributes
(``forcegate.result``, ``forcegate.code``, ``forcegate.credential``, ``forcegate.org_id``) — never a
token, an assertion, a secret or the reason's text.

Where spans go is OpenTelemetry's business: an application that configured a tracer provider (an
embedding FastAPI app, ``opentelemetry-instrument``) gets forcegate's spans in it. Otherwise
forcegate sets one up from the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, the default,
over HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``; ``console``; ``none``), ``OTEL_SERVICE_NAME``
(default ``forcegate``) and ``OTEL_RESOURCE_ATTRIBUTES``.
"""

from __future__ import annotations

import os
from typing import Any

from forcegate import __version__
from forcegate.errors import ConfigurationError, ForcegateError
from forcegate.server._asgi import Scope
from forcegate.server.observability import EndpointLabels, is_store_failure, method_label
from forcegate.server.request import local_path
from forcegate.stores.models import AuditEvent

try:
    from opentelemetry import context, propagate, trace
except ImportError:  # pragma: no cover - the extra is installed wherever the tests run
    trace = None  # type: ignore[assignment]

__all__ = ["Tracing"]

#: The request headers a trace is continued from (W3C Trace Context and Baggage).
_PROPAGATED = (b"traceparent", b"tracestate", b"baggage")


class Tracing:
    """Spans for requests and store calls, and the decision on the request's span."""

    def __init__(self, labels: EndpointLabels) -> None:
        if trace is None:
            raise ConfigurationError("tracing needs OpenTelemetry: pip install 'forcegate[otel]'")
        self._labels = labels
        self._installed = (
            _install_provider() if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) else None
        )
        self._tracer = trace.get_tracer("forcegate", __version__)

    def close(self) -> None:
        """Send what is buffered, when forcegate set up the provider (an application's own is its own)."""
        if self._installed is not None:
            self._installed.shutdown()

    # --- requests ------------------------------------------------------------------------------------

    def begin(self, scope: Scope) -> tuple[Any, Any]:
        carrier = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"] if name in _PROPAGATED
        }
        parent = propagate.extract(carrier) if carrier else context.get_current()
        path = local_path(scope)
        method = method_label(scope)
        route = self._labels(path)
        span = self._tracer.start_span(
            f"{method} {route}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "http.route": route},
        )
        return span, context.attach(trace.set_span_in_context(span, parent))

    def end(self, handle: tuple[Any, Any], scope: Scope, status: int) -> None:
        span, token = handle
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end()
        context.detach(token)

    # --- decisions -----------------------------------------------------------------------------------

    def decision(self, event: AuditEvent, error: ForcegateError | None) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.set_attribute("forcegate.result", event.result)
        span.set_attribute("forcegate.code", event.code)
        span.set_attribute("forcegate.credential", event.credential)
        if event.org_id:
            span.set_attribute("forcegate.org_id", event.org_id)

    # --- store calls (a StoreObserver) ----------------------------------------------------------------

    def store_begin(self, store: str, operation: str) -> Any:
        return self._tracer.start_span(f"{store}.{operation}", kind=trace.SpanKind.CLIENT)

    def store_end(self, handle: Any, store: str, operation: str, error: BaseException | None) -> None:
        if error is not None:
            if is_store_failure(error):
                handle.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
            else:  # an answer (not found, a duplicate) or a cancelled request
                handle.set_attribute("forcegate.store.outcome", getattr(error, "code", type(error).__name__))
        handle.end()


def _install_provider() -> Any:
    """A tracer provider of forcegate's own, exporting as the OTEL_* variables say; the global one from now."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "forcegate"}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter: SpanExporter | None
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif exporter_name == "console":
        exporter = ConsoleSpanExporter()
    elif exporter_name == "none":
        exporter = None
    else:
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={exporter_name!r}: forcegate sets up otlp, console or none")
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
