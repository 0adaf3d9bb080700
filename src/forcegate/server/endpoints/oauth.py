"""RFC 7662 introspection and RFC 7009 revocation (the logic is :mod:`forcegate.service.tokens`)."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forcegate.server.request import client_address, credentials, local_path, read_form
from forcegate.server.runtime import runtime
from forcegate.service.tokens import introspect as introspect_token
from forcegate.service.tokens import revoke as revoke_token

__all__ = ["MAX_FORM", "NO_STORE", "introspect", "revoke"]

MAX_FORM = 64 * 1024
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


async def introspect(request: Request) -> Response:
    scope = request.scope
    body = await introspect_token(
        runtime(scope).service,
        credentials(scope),
        functools.partial(read_form, scope, request.receive, limit=MAX_FORM),
        endpoint=local_path(scope),
        client=client_address(scope),
    )
    return JSONResponse(body, headers=NO_STORE)


async def revoke(request: Request) -> Response:
    scope = request.scope
    await revoke_token(
        runtime(scope).service,
        credentials(scope),
        functools.partial(read_form, scope, request.receive, limit=MAX_FORM),
        endpoint=local_path(scope),
        client=client_address(scope),
    )
    return Response(status_code=200, headers=NO_STORE)
