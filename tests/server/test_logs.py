"""Request ids and the log formats (forcegate.server.logs), on a live server and record by record.

The same, on a real ``forcegate serve`` with its secrets kept out of the lines: test_serve_logs.py.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys
from collections.abc import Iterator

import pytest

from forcegate.server.logs import JsonFormatter, RequestIdFilter, TextFormatter, log_config, request_id_of
from forcegate.stores.models import AuditEvent
from server.live import LiveServer

GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
def decisions() -> Iterator[io.StringIO]:
    """The forcegate.audit lines, as JSON, written while the test runs (as `serve` configures them)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("forcegate.audit")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("path", ["/api/v1/me", "/oauth2/token", "/healthz", "/admin/api/v1/orgs", "/nowhere"])
def test_every_response_has_a_request_id(live_server: LiveServer, path: str) -> None:
    with live_server.client() as client:
        first = client.get(path).headers["x-request-id"]
        second = client.get(path).headers["x-request-id"]
    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("3f2a9c1e-1b2c-4d5e-8f90-123456789abc", True),  # a UUID
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", True),  # a W3C traceparent
        ("req_1.2:3", True),
        ("x" * 64, True),
        ("x" * 65, False),  # too long
        ("a b", False),
        ('a"b', False),
        ("a\tb", False),
        ("caf\u00e9", False),
        ("", False),
    ],
)
def test_a_callers_request_id_is_kept_only_when_short_and_safe(live_server: LiveServer, sent: str, kept: bool) -> None:
    with live_server.client() as client:
        answered = client.get("/healthz", headers={b"x-request-id": sent.encode()}).headers["x-request-id"]
    assert answered == sent if kept else GENERATED.fullmatch(answered)


def test_a_decision_is_logged_with_its_request_id(live_server: LiveServer, decisions: io.StringIO) -> None:
    with live_server.client() as client:
        response = client.get("/api/v1/me", headers={"authorization": "Bearer abc", "x-request-id": "probe-1"})
        generated = client.get("/api/v1/me", headers={"authorization": "Bearer abd"}).headers["x-request-id"]
    assert response.status_code == 401
    first, second = _lines(decisions)
    assert first["request_id"] == "probe-1"
    assert second["request_id"] == generated
    assert {k: first[k] for k in ("logger", "level", "endpoint", "result", "code", "credential")} == {
        "logger": "forcegate.audit",
        "level": "info",
        "endpoint": "/api/v1/me",
        "result": "denied",
        "code": "malformed_token",
        "credential": "bearer",
    }
    assert first["reason"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first["time"]))


def _record(name: str = "forcegate.audit", **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": name, "levelname": "INFO", "levelno": logging.INFO, "msg": "m"})
    record.__dict__.update(extra)
    return record


EVENT = AuditEvent(
    at=0.0,
    endpoint="/oauth2/token",
    credential="jwt-bearer",
    result="denied",
    code="unknown_issuer",
    detail="issuer 'x\nINFO:     allowed /oauth2/token' is not a registered org",
    verified=False,
    org_id="00D5g000004ABCDEA4",
    client="192.0.2.7",
)


def test_the_text_line_of_a_decision_cannot_forge_another_line() -> None:
    line = TextFormatter().format(_record(audit_event=EVENT, request_id="r-1"))
    assert line == (
        "INFO:     denied /oauth2/token org=00D5g000004ABCDEA4 code=unknown_issuer: issuer 'x\\x0aINFO:     "
        "allowed /oauth2/token' is not a registered org (jwt-bearer, client 192.0.2.7, request r-1)"
    )


def test_the_json_object_of_a_decision_has_its_fields_and_nothing_else() -> None:
    entry = json.loads(JsonFormatter().format(_record(audit_event=EVENT, request_id="r-1")))
    del entry["time"]
    assert entry == {
        "level": "info",
        "logger": "forcegate.audit",
        "request_id": "r-1",
        "event": "decision",
        "endpoint": "/oauth2/token",
        "credential": "jwt-bearer",
        "org": "00D5g000004ABCDEA4",
        "user": None,
        "result": "denied",
        "code": "unknown_issuer",
        "reason": EVENT.detail,
        "verified": False,
        "client": "192.0.2.7",
    }


def test_an_access_line_never_has_the_query_string() -> None:
    record = _record("uvicorn.access", args=("127.0.0.1:5000", "GET", "/api/v1/me?access_token=s3cr3t", "1.1", 401))
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/v1/me", 401)
    assert "s3cr3t" not in json.dumps(entry)


def test_other_records_keep_their_message_and_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("forcegate.server", logging.ERROR, __file__, 1, "failed in %s", ("/x",), None)
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["level"], entry["message"]) == ("error", "failed in /x")
    assert "ValueError: boom" in entry["exception"]
    assert TextFormatter().format(record).startswith("ERROR:    forcegate.server: failed in /x\nTraceback")


def test_request_id_of_reads_the_first_header_only() -> None:
    scope = {"headers": [(b"x-request-id", b"bad id"), (b"x-request-id", b"good")]}
    assert GENERATED.fullmatch(request_id_of(scope).decode())


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_log_config_is_valid(log_format: str) -> None:
    config = log_config(log_format=log_format, level="warning", decisions=True)
    # Checked by logging itself, without installing it in this process.
    configurator = logging.config.DictConfigurator(config)
    assert configurator.config["loggers"]["forcegate"]["level"] == logging.WARNING
    for formatter in config["formatters"].values():
        assert configurator.resolve(formatter["()"])
