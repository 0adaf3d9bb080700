"""OpenTelemetry tracing (``tracing = true``): a server span per request, store calls inside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from forcegate.clock import FixedClock
from forcegate.errors import ConfigurationError
from forcegate.server import tracing
from forcegate.server.observability import start_observability
from forcegate.server.routes import routes
from forcegate.settings import Settings
from private_servers import free_port
from server.live import LiveServer, Org, exchange, register_org, start_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The process's tracer provider (set once per process, as an application would), spans kept in memory."""
    found = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(found))
    return found


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def _server(tmp_path: Path, clock: FixedClock, **overrides: Any) -> LiveServer:
    return start_server(tmp_path / "data", clock=clock, **overrides)


def _by_name(found: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    matches = [span for span in found if span.name == name]
    assert len(matches) == 1, [span.name for span in found]
    return matches[0]


def test_a_request_is_a_server_span_continuing_the_callers_trace_with_store_calls_inside(
    tmp_path: Path, clock: FixedClock, org: Org, spans: InMemorySpanExporter
) -> None:
    server = _server(tmp_path, clock, tracing=True)
    try:
        register_org(server.url, server.admin_token, org)
        spans.clear()
        assertion = org.assertion(server.token_endpoint)
        response = httpx.post(
            server.token_endpoint,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
    finally:
        server.stop()
    found = spans.get_finished_spans()
    request = _by_name(found, "POST /oauth2/token")
    assert request.kind == trace.SpanKind.SERVER
    assert format(request.context.trace_id, "032x") == TRACE_ID
    assert request.parent is not None
    assert format(request.parent.span_id, "016x") == PARENT_ID
    attributes = dict(request.attributes or {})
    assert attributes["http.response.status_code"] == 200
    assert attributes["http.route"] == "/oauth2/token"
    assert attributes["forcegate.result"] == "allowed"
    assert attributes["forcegate.code"] == "ok"
    assert attributes["forcegate.org_id"] == org.org_id
    stores = [span for span in found if span.parent is not None and span.parent.span_id == request.context.span_id]
    assert "grants.record_grant" in {span.name for span in stores}
    assert all(span.kind == trace.SpanKind.CLIENT for span in stores)
    # No span carries a credential.
    for span in found:
        for value in (span.attributes or {}).values():
            assert assertion not in str(value)
            assert token not in str(value)


def test_a_refusal_is_recorded_on_the_span(tmp_path: Path, clock: FixedClock, spans: InMemorySpanExporter) -> None:
    server = _server(tmp_path, clock, tracing=True)
    try:
        spans.clear()
        assert exchange(server, "not.a.jwt").status_code == 400
    finally:
        server.stop()
    request = _by_name(spans.get_finished_spans(), "POST /oauth2/token")
    attributes = dict(request.attributes or {})
    assert attributes["forcegate.result"] == "denied"
    assert attributes["forcegate.code"] == "malformed_token"
    assert attributes["http.response.status_code"] == 400


def test_tracing_is_off_by_default(tmp_path: Path, clock: FixedClock, spans: InMemorySpanExporter) -> None:
    server = _server(tmp_path, clock)
    try:
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
    assert spans.get_finished_spans() == ()


def test_tracing_without_the_extra_is_refused_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tracing, "trace", None)
    settings = Settings(data_dir=tmp_path, tracing=True)
    with pytest.raises(ConfigurationError, match=r"pip install 'forcegate\[otel\]'"):
        start_observability(settings, routes(settings))


def test_serve_sets_up_the_exporter_the_otel_variables_name(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORCEGATE_", "OTEL_"))}
    env |= {
        "FORCEGATE_DATA_DIR": str(tmp_path / "data"),
        "FORCEGATE_TRACING": "1",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "forcegate-under-test",
    }
    argv = [sys.executable, "-m", "forcegate.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "forcegate serve exited"
            assert time.monotonic() < deadline, "forcegate serve did not start"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the batch of spans is sent at shutdown
        output, _ = process.communicate(timeout=20)
    text = output.decode()
    # The console exporter writes each span as an indented JSON object.
    start = text.index('{\n    "name": "GET /healthz"')
    span = json.JSONDecoder().raw_decode(text[start:])[0]
    assert span["kind"] == "SpanKind.SERVER"
    assert span["attributes"]["http.response.status_code"] == 200
    assert span["resource"]["attributes"]["service.name"] == "forcegate-under-test"
