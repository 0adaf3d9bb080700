"""``POST /oauth2/token`` and ``GET /api/v1/me`` as raw ASGI callables (the hot paths).

Both read what they need straight from the ASGI scope: no framework request object, no router, no
multipart-capable form parser (a form parser roughly halves throughput here; an urlencoded body is
parsed by :func:`forcegate.core.form.parse_form` in a few microseconds).
"""

from __future__ import annotations

import functools

from forcegate.core.grant import MAX_BODY_BYTES, MAX_FIELDS
from forcegate.server._asgi import Receive, Scope, Send, send_json
from forcegate.server.request import client_address, credentials, read_form
from forcegate.server.runtime import runtime

__all__ = ["ME_ENDPOINT", "me", "method_not_allowed", "token"]

ME_ENDPOINT = "/api/v1/me"


async def method_not_allowed(send: Send, allowed: bytes) -> None:
    """405 with ``Allow`` (RFC 9110 §15.5.6): the route exists, the method does not."""
    body = {"error": "invalid_request", "error_description": "method not allowed", "code": "method_not_allowed"}
    await send_json(send, 405, body, [(b"allow", allowed)])


async def token(scope: Scope, receive: Receive, send: Send) -> None:
    """RFC 7523 §2.1 token request, exactly as ``Auth.JWTBearerTokenExchange`` sends it."""
    if scope["method"] != "POST":
        await method_not_allowed(send, b"POST")
        return
    service = runtime(scope).service
    form = functools.partial(read_form, scope, receive, limit=MAX_BODY_BYTES, max_fields=MAX_FIELDS)
    answer = await service.exchange(form, client=client_address(scope))
    await send_json(send, 200, answer)


async def me(scope: Scope, receive: Receive, send: Send) -> None:
    """The unified identity of the caller: an access token, an Apex JWT sent directly, or a Canvas session."""
    if scope["method"] not in ("GET", "HEAD"):
        await method_not_allowed(send, b"GET, HEAD")
        return
    service = runtime(scope).service
    identity = await service.authorize(credentials(scope), endpoint=ME_ENDPOINT, client=client_address(scope))
    await send_json(send, 200, identity.to_dict())
