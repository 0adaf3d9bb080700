"""What the served process logs, and how: request ids, the text and JSON formats, uvicorn's log config.

Every HTTP request the application serves gets a **request id**: the caller's ``X-Request-Id`` when it
is short and safe (a reverse proxy's, up to 64 of ``A-Z a-z 0-9 . _ : -``), else a new random one. It is
returned in the ``X-Request-Id`` response header and held in a context variable for the request's
duration, so every log line written while serving it carries it (:class:`RequestIdFilter`).

The ``forcegate.audit`` logger writes one record per authentication decision with the
:class:`~forcegate.stores.models.AuditEvent` attached (``audit_event``): the formatters below render its
fields — endpoint, credential kind, org, user, result, code, reason, client — and nothing else of the
request, so no token, assertion, secret or cookie can reach a log line through them (the reasons
themselves never hold one: see ``AuditEvent``).

``forcegate serve`` hands :func:`log_config` to uvicorn (``log_config=``), which applies it in the
parent and in every worker: ``text`` keeps uvicorn's lines and adds the decisions in development mode;
``json`` writes every logger's records, uvicorn's included, as one JSON object per line on standard
error.
"""

from __future__ import annotations

import binascii
import contextvars
import logging
import os
import random
import re
import time
from typing import Any

import orjson

from forcegate.server._asgi import Scope
from forcegate.server.request import header
from forcegate.stores.models import AuditEvent

__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "RequestIdFilter",
    "TextFormatter",
    "current_request_id",
    "log_config",
    "request_id_of",
]

REQUEST_ID_HEADER = b"x-request-id"
#: The id of the request being served (None outside a request), as the header's bytes: decoded only
#: when a line is written, which is rarer than a request.
REQUEST_ID: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("forcegate_request_id", default=None)

# Short, and nothing a log reader, a terminal or a log shipper would interpret: no spaces, quotes,
# control characters or separators. Covers UUIDs, nginx's $request_id and W3C trace ids.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,64}")
# Request ids need to be unique, not secret: a private generator (nobody's random.seed() touches it),
# reseeded in a forked child so two workers never share a sequence. No system call, unlike urandom.
_ids = random.Random(os.urandom(32))  # noqa: S311 - ids, not secrets
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


def request_id_of(scope: Scope) -> bytes:
    """The caller's ``X-Request-Id`` if it is short and safe, else a new one (16 hex digits)."""
    given = header(scope, REQUEST_ID_HEADER)
    if given is not None and _SAFE_ID.fullmatch(given):
        return given
    return binascii.hexlify(_ids.randbytes(8))


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    found = REQUEST_ID.get()
    return None if found is None else found.decode("ascii")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served (``record.request_id``), in the
    logging call's own context, before any handler could pass the record to another thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``message``,
    ``request_id`` when there is one; for a decision, its fields instead of the message; for
    uvicorn's access lines, the method, path (never the query string), status and client."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        event = getattr(record, "audit_event", None)
        access = _access_fields(record)
        if isinstance(event, AuditEvent):
            entry.update(_decision_fields(event))
        elif access is not None:
            entry.update(access)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """uvicorn's look (``INFO:     …``) for forcegate's records; a decision as one readable line:
    ``denied /oauth2/token org=00D… code=invalid_audience: <reason> (jwt-bearer, client …, request …)``."""

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "audit_event", None)
        if isinstance(event, AuditEvent):
            message = _decision_line(event, getattr(record, "request_id", None) or current_request_id())
        else:
            message = f"{record.name}: {record.getMessage()}"
        line = f"{record.levelname + ':':<9} {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


# The last whole second formatted, and its text: one strftime per second, not per line (a tuple,
# swapped whole, so threads logging at once never pair one second with another's text).
_second: list[tuple[int, str]] = [(-1, "")]


def _utc(created: float) -> str:
    """``2026-12-02T08:08:36.219Z``."""
    whole = int(created)
    cached = _second[0]
    if cached[0] != whole:
        cached = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
        _second[0] = cached
    return f"{cached[1]}.{int((created - whole) * 1000):03d}Z"


def _decision_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "event": "decision",
        "endpoint": event.endpoint,
        "credential": event.credential,
        "org": event.org_id,
        "user": event.user_id,
        "result": event.result,
        "code": event.code,
        "reason": event.detail or None,
        "verified": event.verified,
        "client": event.client,
    }


def _decision_line(event: AuditEvent, request_id: str | None) -> str:
    # Each field through _printable: a claimed org, an embedding application's path or a reason may
    # carry what the caller sent.
    line = f"{event.result} {event.endpoint} org={event.org_id or '-'}"
    if event.user_id:
        line += f" user={event.user_id}"
    line += f" code={event.code}"
    if event.detail:
        line += f": {event.detail}"
    context = [event.credential]
    if event.client:
        context.append(f"client {event.client}")
    if request_id:
        context.append(f"request {request_id}")
    return _printable(f"{line} ({', '.join(context)})")


# C0 and C1 controls and the Unicode line separators, as the CLI treats registry and audit text.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def _printable(text: str) -> str:
    """No control character (a forged line, a terminal escape) gets through."""
    return text.translate(_CONTROL)


def _access_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """uvicorn.access's arguments (client, method, full path, HTTP version, status) as fields."""
    if record.name != "uvicorn.access" or not isinstance(record.args, tuple) or len(record.args) != 5:
        return None
    client, method, full_path, _, status = record.args
    return {
        "event": "access",
        "method": method,
        "path": str(full_path).partition("?")[0],  # a query string may carry what must not be logged
        "status": status,
        "client": client,
    }


def log_config(*, log_format: str, level: str, decisions: bool) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for ``forcegate serve`` (uvicorn's ``log_config``).

    ``level``: uvicorn's ``--log-level`` name, for forcegate's loggers too. ``decisions``: whether the
    ``forcegate.audit`` decisions (INFO) are written; otherwise only its warnings are.
    """
    numeric = logging.getLevelName(level.upper())
    audit_level = numeric if decisions else max(numeric, logging.WARNING)
    filters = {"request_id": {"()": f"{__name__}.RequestIdFilter"}}
    if log_format == "json":
        formatter = {"()": f"{__name__}.JsonFormatter"}
        formatters = {"default": formatter, "access": formatter, "forcegate": formatter}
        access_stream = "ext://sys.stderr"
    else:
        formatters = {
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            "forcegate": {"()": f"{__name__}.TextFormatter"},
        }
        access_stream = "ext://sys.stdout"  # where uvicorn writes it by default
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": filters,
        "formatters": formatters,
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
                "filters": ["request_id"],
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": access_stream,
                "filters": ["request_id"],
            },
            "forcegate": {
                "class": "logging.StreamHandler",
                "formatter": "forcegate",
                "stream": "ext://sys.stderr",
                "filters": ["request_id"],
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "forcegate": {"handlers": ["forcegate"], "level": numeric, "propagate": False},
            "forcegate.audit": {"level": audit_level},
        },
        # Everything else (the database and Redis drivers, asyncio) in the same format, warnings up.
        "root": {"handlers": ["forcegate"], "level": "WARNING"},
    }
