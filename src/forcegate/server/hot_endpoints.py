"""``POST /oauth2/token`` and ``GET /api/v1/me`` as raw ASGI callables (the hot paths).

Both read what they need straight from the ASGI scope: no framework request object, no router, no
multipart-capable form parser (a form parser roughly halves throughput here; an urlencoded body is
parsed by :func:`forcegate.core.grant.parse_token_request` in a few microseconds).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from forcegate.core.grant import parse_token_request
from forcegate.core.identity import Identity
from forcegate.errors import ForcegateError, InsufficientScope, RequestError
from forcegate.server._asgi import ASGIApp, Receive, Scope, Send, header, read_body, send_json
from forcegate.server.errors import NoCredentials, api_error, retry_after, token_endpoint_error
from forcegate.server.service import SESSION_COOKIE, ClaimedIdentity, Service, claimed_identity
from forcegate.stores.models import AuditEvent

__all__ = ["me_endpoint", "session_cookie", "token_endpoint"]

log = logging.getLogger("forcegate.server")

MAX_TOKEN_REQUEST_BYTES = 64 * 1024
_FORM = b"application/x-www-form-urlencoded"


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


async def _method_not_allowed(send: Send, allowed: bytes) -> None:
    await send_json(
        send, 405, {"error": "invalid_request", "error_description": "method not allowed"}, [(b"allow", allowed)]
    )


def token_endpoint(service: Service) -> ASGIApp:
    settings = service.settings

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _method_not_allowed(send, b"POST")
            return
        grant = None
        request = None
        try:
            content_type = header(scope, b"content-type") or b""
            if content_type.split(b";", 1)[0].strip().lower() != _FORM:
                raise RequestError("the token request must be application/x-www-form-urlencoded (RFC 6749 §4.1.3)")
            body = await read_body(receive, limit=MAX_TOKEN_REQUEST_BYTES)
            request = parse_token_request(body)
            grant = await service.token(request, client=_client(scope))
        except ForcegateError as exc:
            await _refuse_token_request(service, scope, send, exc, None if request is None else request.assertion)
            return
        await send_json(send, 200, grant.response)

    async def _refuse_token_request(
        service: Service, scope: Scope, send: Send, exc: ForcegateError, assertion: str | None
    ) -> None:
        status, body = token_endpoint_error(exc, development=settings.development)
        claimed = claimed_identity(assertion) if assertion else ClaimedIdentity(None, None, None)
        try:
            await service.audit.write(
                service.audit.event(
                    endpoint="/oauth2/token",
                    credential="jwt-bearer",
                    error=exc,
                    client=_client(scope),
                    org_id=claimed.org_id,
                    issuer=claimed.issuer,
                    subject=claimed.subject,
                )
            )
        except ForcegateError as audit_exc:
            log.error("audit store refused a token-endpoint event: %s", audit_exc)
            status, body = token_endpoint_error(audit_exc, development=settings.development)
            exc = audit_exc
        await send_json(send, status, body, _retry_after_header(exc))

    return endpoint


def _retry_after_header(exc: ForcegateError) -> list[tuple[bytes, bytes]]:
    seconds = retry_after(exc)
    return [] if seconds is None else [(b"retry-after", seconds.encode())]


def session_cookie(scope: Scope) -> str | None:
    """The value of the session cookie, if the request carries one."""
    raw = header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


async def authenticate(service: Service, scope: Scope) -> tuple[Identity, str]:
    """Identity and credential kind of an API request: bearer token first, else the Canvas session."""
    authorization = header(scope, b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        token = credentials.strip()
        if scheme.lower() != "bearer" or not token:
            raise RequestError("the Authorization header must be 'Bearer <token>' (RFC 6750 §2.1)")
        return await service.authenticate_bearer(token)
    session_id = session_cookie(scope)
    if session_id is not None:
        return await service.authenticate_session(session_id), "session"
    raise NoCredentials("no bearer token and no session cookie")


def refusal_event(service: Service, scope: Scope, exc: ForcegateError, endpoint: str) -> AuditEvent:
    """An audit event for a refused API call, filed under the org the credential claims (unverified)."""
    authorization = header(scope, b"authorization") or b""
    token = authorization.decode("latin-1").partition(" ")[2].strip()
    claimed = claimed_identity(token) if token else ClaimedIdentity(None, None, None)
    credential = "bearer" if token else "session"
    return service.audit.event(
        endpoint=endpoint,
        credential=credential,
        error=exc,
        client=_client(scope),
        org_id=claimed.org_id,
        issuer=claimed.issuer,
        subject=claimed.subject,
    )


async def authorize(service: Service, scope: Scope, *, endpoint: str, scopes: Collection[str] = ()) -> Identity:
    """:func:`authenticate`, ``scopes`` enforced, and the decision audited: a refusal is queued (and
    raised); a direct JWT, which consumed a single-use assertion, is written before returning; other
    credentials are queued. Shared by ``/api/v1/me`` and :class:`forcegate.server.Forcegate`."""
    audit = service.audit
    try:
        identity, credential = await authenticate(service, scope)
        if not identity.has_scopes(scopes):
            raise InsufficientScope(f"missing scope(s): {' '.join(sorted(set(scopes) - identity.scopes))}")
    except NoCredentials:
        raise
    except ForcegateError as exc:
        audit.enqueue(refusal_event(service, scope, exc, endpoint))
        raise
    event = audit.event(
        endpoint=endpoint,
        credential=credential,
        org_id=identity.org_id,
        user_id=identity.user_id,
        subject=identity.username,
        issuer=identity.issuer,
        client=_client(scope),
    )
    if credential == "jwt":
        await audit.write(event)
    else:
        audit.enqueue(event)
    return identity


def me_endpoint(service: Service) -> ASGIApp:
    """``GET /api/v1/me``: the unified identity of the caller."""
    settings = service.settings

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _method_not_allowed(send, b"GET, HEAD")
            return
        try:
            identity = await authorize(service, scope, endpoint="/api/v1/me")
        except ForcegateError as exc:
            status, body, challenge = api_error(exc, development=settings.development)
            headers = [(b"www-authenticate", challenge.encode())] if challenge else []
            await send_json(send, status, body, [*headers, *_retry_after_header(exc)])
            return
        await send_json(send, 200, identity.to_dict())

    return endpoint
