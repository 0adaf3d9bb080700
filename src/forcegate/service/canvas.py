"""The legacy Canvas path: a signed request verified against the registered apps, and a session opened.

Salesforce POSTs ``signed_request`` from the user's browser. The request is verified against the
secrets of every registered app (current and previous, during a rotation) or of the one app named
in the URL; its org must be registered and enabled, or the app must accept any org (the weaker
legacy model); with ``canvas_liveness_check`` Salesforce's userinfo must confirm the session. A
server-side session is then opened: the cookie carries only a random id (decision 0009).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from forcegate.core import ids
from forcegate.core.canvas_request import CanvasRequest
from forcegate.core.form import required
from forcegate.core.identity import Identity
from forcegate.errors import CanvasOrgRefused, ForcegateError, UnknownApp
from forcegate.service.authentication import AuthenticationService, Form, session_digest
from forcegate.stores.models import Session

__all__ = ["CanvasLogin", "canvas_login", "open_canvas_session"]


@dataclass(frozen=True, slots=True)
class CanvasLogin:
    session_id: str
    identity: Identity
    request: CanvasRequest


async def open_canvas_session(
    service: AuthenticationService, form: Form, *, consumer_key: str | None, endpoint: str, client: str | None
) -> CanvasLogin:
    """``POST /canvas``: verify the form's ``signed_request``, open a session, audit the decision."""
    audit = service.audit
    try:
        login = await canvas_login(service, required(dict(await form()), "signed_request"), consumer_key=consumer_key)
    except ForcegateError as exc:
        await service.write_refusal(audit.event(endpoint=endpoint, credential="canvas", error=exc, client=client))
        raise
    await audit.write(audit.allowed(login.identity, endpoint=endpoint, credential="canvas", client=client))
    return login


async def canvas_login(service: AuthenticationService, signed_request: str, *, consumer_key: str | None) -> CanvasLogin:
    """Verify a signed request against the registered apps' secrets and open a session."""
    await service.refresh()
    trust = await service.registry.canvas(consumer_key)
    if trust.verifier is None:
        raise UnknownApp(
            "no registered app" if consumer_key is None else f"no registered app with consumer key {consumer_key!r}"
        )
    request = trust.verifier.verify(signed_request)
    app = trust.apps[request.secret_index]
    org = await service.registry.org(request.organization_id)
    if org is None and not app.any_org:
        raise CanvasOrgRefused(f"org {request.organization_id} is not registered (app {app.consumer_key})")
    if org is not None and not org.enabled:
        raise CanvasOrgRefused(f"org {request.organization_id} is disabled")
    if service.canvas_liveness is not None:
        # Last, after every local check: a request refused anyway costs no call to Salesforce.
        await service.canvas_liveness.check(request)
    environment = request.environment
    record = environment.record
    record_id = record.get("Id") if record is not None else None
    now = service.clock.now()
    lifetime = service.settings.session_lifetime
    identity = Identity(
        source="canvas",
        org_id=request.organization_id,
        user_id=request.user_id,
        username=request.user.user_name,
        instance_url=request.client.instance_url,
        record_id=ids.to18(record_id) if isinstance(record_id, str) and ids.is_valid(record_id) else None,
        parameters=environment.parameters,
        scopes=frozenset() if org is None else org.scopes,
        issuer=app.consumer_key,
        expires_at=now + lifetime,
    )
    session_id = secrets.token_urlsafe(32)
    session = Session(id_hash=session_digest(session_id), identity=identity, created_at=now, expires_at=now + lifetime)
    await service.stores.sessions.create(session)
    return CanvasLogin(session_id, identity, request)
