"""What a client discovers about the service: the JWKS, RFC 8414 metadata, the OpenAPI document, health."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forcegate.core.grant import JWT_BEARER_GRANT_TYPE
from forcegate.server.runtime import runtime

__all__ = ["healthz", "jwks", "metadata", "openapi", "readyz"]

_PUBLIC_CACHE = {"cache-control": "public, max-age=300"}


async def jwks(request: Request) -> Response:
    service = runtime(request.scope).service
    # The keys as of now: a rotation or retirement by any worker or the CLI shows at once.
    await service.refresh()
    return JSONResponse(service.jwks, headers=_PUBLIC_CACHE)


async def metadata(request: Request) -> Response:
    settings = runtime(request.scope).settings
    base = settings.public_url
    return JSONResponse(
        {
            "issuer": base,
            "token_endpoint": settings.token_endpoint,
            "jwks_uri": base + "/.well-known/jwks.json",
            "introspection_endpoint": base + "/oauth2/introspect",
            "revocation_endpoint": base + "/oauth2/revoke",
            "grant_types_supported": [JWT_BEARER_GRANT_TYPE],
            "token_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported": ["bearer"],
            "revocation_endpoint_auth_methods_supported": ["bearer"],
            # No authorization endpoint: assertions come from Apex, not from a browser redirect.
            "response_types_supported": [],
            "service_documentation": base + "/openapi.json",
        },
        headers=_PUBLIC_CACHE,
    )


async def openapi(request: Request) -> Response:
    return JSONResponse(runtime(request.scope).openapi)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ready, checks = await runtime(request.scope).service.readiness()
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={"cache-control": "no-store"},
    )
