"""Minimal raw-ASGI helpers for the hot endpoints.

``/oauth2/token`` and ``/api/v1/me`` are served without the framework's request object, router or
form parser: at these rates the framework's per-request layers cost more than the RS256 verify
(see docs/decisions/0008-service-framework.md). Everything else goes through Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

from forcegate.errors import ForcegateError, RequestError

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "header",
    "read_body",
    "send_bytes",
    "send_json",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_NO_STORE: list[tuple[bytes, bytes]] = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
]


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (``name`` lower-case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(receive: Receive, *, limit: int, too_large: type[ForcegateError] = RequestError) -> bytes:
    """The whole request body; more than ``limit`` bytes raises ``too_large``, and nothing more is read."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError("client disconnected before sending the body")
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise too_large(f"request body exceeds {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_bytes(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    response_headers = [*headers, (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """A JSON response with ``Cache-Control: no-store`` (RFC 6749 §5.1 for anything token-bearing)."""
    await send_bytes(send, status, orjson.dumps(payload), [*JSON_NO_STORE, *extra_headers])
