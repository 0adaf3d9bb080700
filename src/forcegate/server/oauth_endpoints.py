"""RFC 7662 introspection, RFC 7009 revocation, the JWKS, RFC 8414 metadata, health checks."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from forcegate.errors import AuthenticationRequired, ForcegateError, StoreUnavailable, TokenError
from forcegate.server.errors import api_error, retry_after
from forcegate.server.forms import read_form, single
from forcegate.server.service import Service

__all__ = ["bearer_token", "oauth_routes", "refusal"]

MAX_FORM = 64 * 1024
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def refusal(service: Service, exc: ForcegateError) -> JSONResponse:
    status, body, challenge = api_error(exc, development=service.settings.development)
    headers = dict(NO_STORE)
    if challenge:
        headers["www-authenticate"] = challenge
    seconds = retry_after(exc)
    if seconds is not None:
        headers["retry-after"] = seconds
    return JSONResponse(body, status_code=status, headers=headers)


async def require_admin(service: Service, request: Request, endpoint: str) -> None:
    """The caller must present the admin token; a refusal is audited."""
    token = bearer_token(request)
    if token is not None and await service.is_admin(token):
        return
    error = AuthenticationRequired("admin token missing" if token is None else "admin token does not match")
    service.audit.enqueue(
        service.audit.event(
            endpoint=endpoint, credential="admin", error=error, client=request.client.host if request.client else None
        )
    )
    raise error


def oauth_routes(service: Service) -> list[Route]:
    settings = service.settings

    async def introspect(request: Request) -> Response:
        try:
            await require_admin(service, request, "/oauth2/introspect")
            token = single(await read_form(request, limit=MAX_FORM), "token")
            assert token is not None
        except ForcegateError as exc:
            return refusal(service, exc)
        try:
            verified = await service.verify_access_token(token)
        except StoreUnavailable as exc:
            return refusal(service, exc)
        except TokenError:
            return JSONResponse({"active": False}, headers=NO_STORE)
        identity = verified.identity
        body: dict[str, Any] = {
            "active": True,
            "token_type": "Bearer",
            "scope": " ".join(sorted(identity.scopes)),
            "client_id": verified.client_id,
            "sub": identity.user_id or identity.org_id,
            "username": identity.username,
            "exp": int(verified.expires_at),
            "iss": settings.public_url,
            "aud": settings.public_url,
            "jti": verified.jti,
            "org_id": identity.org_id,
            "user_id": identity.user_id,
            "instance_url": identity.instance_url,
        }
        return JSONResponse({k: v for k, v in body.items() if v is not None}, headers=NO_STORE)

    async def revoke(request: Request) -> Response:
        """RFC 7009: an admin revokes any token; a holder revokes its own by authenticating with it."""
        try:
            caller = bearer_token(request)
            if caller is None:
                raise AuthenticationRequired("revocation needs the admin token or the token itself as bearer")
            fields = await read_form(request, limit=MAX_FORM)
            token = single(fields, "token")
            assert token is not None
            admin = await service.is_admin(caller)
            if not admin and caller != token:
                raise AuthenticationRequired("a holder may revoke only the token it authenticates with")
            try:
                if admin:
                    # Only that it is a token of ours (signature, expiry): a token of an org that is
                    # disabled or removed right now is still revoked, so re-enabling the org later
                    # does not bring it back.
                    verified = await service.verify_token_signature(token)
                else:
                    # The holder authenticates with the token: it must be live in every respect.
                    verified = await service.verify_access_token(token)
            except StoreUnavailable:
                raise
            except TokenError:
                if not admin:
                    raise
                # §2.2: an invalid or unknown token is not an error for an authorised caller.
                return Response(status_code=200, headers=NO_STORE)
            await service.stores.tokens.revoke(verified.jti, verified.expires_at)
            await service.audit.write(
                service.audit.event(
                    endpoint="/oauth2/revoke",
                    credential="admin" if admin else "access-token",
                    org_id=verified.identity.org_id,
                    user_id=verified.identity.user_id,
                    client=request.client.host if request.client else None,
                )
            )
        except ForcegateError as exc:
            return refusal(service, exc)
        return Response(status_code=200, headers=NO_STORE)

    async def jwks(_: Request) -> Response:
        # The keys as of now: a rotation or retirement by any worker or the CLI shows at once.
        await service.refresh()
        return JSONResponse(service.jwks, headers={"cache-control": "public, max-age=300"})

    async def metadata(_: Request) -> Response:
        base = settings.public_url
        return JSONResponse(
            {
                "issuer": base,
                "token_endpoint": settings.token_endpoint,
                "jwks_uri": base + "/.well-known/jwks.json",
                "introspection_endpoint": base + "/oauth2/introspect",
                "revocation_endpoint": base + "/oauth2/revoke",
                "grant_types_supported": [JWT_BEARER],
                "token_endpoint_auth_methods_supported": ["none"],
                "introspection_endpoint_auth_methods_supported": ["bearer"],
                "revocation_endpoint_auth_methods_supported": ["bearer"],
                # No authorization endpoint: assertions come from Apex, not from a browser redirect.
                "response_types_supported": [],
                "service_documentation": base + "/openapi.json",
            },
            headers={"cache-control": "public, max-age=300"},
        )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            checks = dict(await service.stores.check())
        except ForcegateError as exc:
            # A backend that cannot even run its check is not ready: say so in the same shape.
            checks = {"stores": exc.reason}
        except Exception as exc:
            checks = {"stores": type(exc).__name__}
        ready = all(value == "ok" for value in checks.values()) and service.issuer is not None
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
            headers={"cache-control": "no-store"},
        )

    return [
        Route("/oauth2/introspect", introspect, methods=["POST"]),
        Route("/oauth2/revoke", revoke, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
