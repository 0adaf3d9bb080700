"""The ASGI types, and the two ways a raw-ASGI endpoint answers (bytes, JSON).

``/oauth2/token`` and ``/api/v1/me`` are served without the framework's request object, router or
form parser: at these rates the framework's per-request layers cost more than the RS256 verify
(see docs/decisions/0008-service-framework.md). Everything else goes through Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

__all__ = ["JSON_NO_STORE", "ASGIApp", "Message", "Receive", "Scope", "Send", "send_bytes", "send_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: RFC 6749 §5.1: anything token-bearing (and every refusal) is not to be cached.
JSON_NO_STORE: list[tuple[bytes, bytes]] = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
]


async def send_bytes(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    response_headers = [*headers, (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """A JSON response with ``Cache-Control: no-store``."""
    await send_bytes(send, status, orjson.dumps(payload), [*JSON_NO_STORE, *extra_headers])
