"""The legacy Canvas path: a signed request verified against the registered apps, and a session opened.

Salesforce POSTs ``signed_request`` from the user's browser. The request is verified against the
secrets of every registered app (current and previous, during a rotation) or of the one app named
in the URL; its org must be registered, enabled and bound to that app, or the app must accept any
org (the weaker legacy model); with ``canvas_liveness_check`` Salesforce's userinfo must confirm the
session. A server-side session is then opened: the cookie carries only a random id (decision 0009),
and the store remembers which app and which secret opened it, so the session ends as soon as that
trust does (:func:`canvas_refusal`, checked on every use).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from forcegate.core import ids
from forcegate.core.canvas_request import CanvasRequest
from forcegate.core.form import required
from forcegate.core.identity import Identity
from forcegate.core.instance_url import is_salesforce_page, parse_instance_domains
from forcegate.core.trust import OrgTrust
from forcegate.errors import CanvasOrgRefused, CanvasOriginRefused, ForcegateError, UnknownApp
from forcegate.service.authentication import AuthenticationService, Form, session_digest
from forcegate.service.canvas_trust import canvas_refusal
from forcegate.service.claimed import claimed_canvas_app, claimed_canvas_org
from forcegate.service.registry_cache import CanvasRoutes, CanvasTrust
from forcegate.stores.models import App, Session

__all__ = [
    "CanvasLogin",
    "VerifiedCanvasRequest",
    "canvas_login",
    "check_origin",
    "open_canvas_session",
    "verify_canvas_request",
]


@dataclass(frozen=True, slots=True)
class CanvasLogin:
    session_id: str
    identity: Identity
    request: CanvasRequest


async def open_canvas_session(
    service: AuthenticationService,
    form: Form,
    *,
    consumer_key: str | None,
    endpoint: str,
    client: str | None,
    origin: str | None = None,
) -> CanvasLogin:
    """``POST /canvas``: verify the form's ``signed_request``, open a session, audit the decision.

    ``origin``: the browser's ``Origin`` header. When present it must name a Salesforce page (the
    domains of the liveness check, and ``canvas_instance_domains``): a signed request is a bearer
    credential, and another site must not sign a user in with one (login CSRF).
    """
    audit = service.audit
    signed_request: str | None = None
    try:
        if origin is not None:
            check_origin(origin, service.settings.canvas_instance_domains)
        signed_request = required(dict(await form()), "signed_request")
        login = await canvas_login(service, signed_request, consumer_key=consumer_key)
    except ForcegateError as exc:
        claimed_org = claimed_canvas_org(signed_request)
        refusal = service.failures.instead(exc, client, claimed_org)
        await service.write_refusal(
            audit.event(endpoint=endpoint, credential="canvas", error=refusal, client=client, org_id=claimed_org)
        )
        await service.count_failure(exc, client, claimed_org)
        if refusal is exc:
            raise
        raise refusal from None
    await audit.write(audit.allowed(login.identity, endpoint=endpoint, credential="canvas", client=client))
    return login


def check_origin(origin: str, configured: tuple[str, ...]) -> None:
    """:class:`CanvasOriginRefused` unless ``origin`` is a Salesforce page or a configured origin."""
    if not is_salesforce_page(origin, parse_instance_domains(configured)):
        raise CanvasOriginRefused(
            f"the POST came from {origin[:200]!r}, not a Salesforce page (add its domain to canvas_instance_domains "
            "if Salesforce serves your org from it)"
        )


def _route(routes: CanvasRoutes, signed_request: str, limit: int) -> CanvasTrust:
    """The secrets a request to the shared ``/canvas`` is checked against: at most ``limit``.

    Each secret costs an HMAC over the whole request, so an unsigned request must not be checked
    against every registered secret. With few secrets, all are tried. Otherwise the request is routed
    by the Canvas app its (unverified) envelope names — a lie there only picks secrets that then fail
    to verify it — and, when it names no registered app, by the apps without a Canvas name.
    """
    if routes.everything.verifier is None:
        raise UnknownApp("no registered app")
    if routes.everything.size <= limit or len(signed_request) > routes.everything.verifier.max_bytes:
        return routes.everything  # an oversized request is refused by its size, before any HMAC
    claimed = claimed_canvas_app(signed_request)
    if claimed is not None:
        namespace, name = claimed
        for key in (f"{namespace}__{name}".lower() if namespace else None, name.lower()):
            named = routes.by_name.get(key) if key is not None else None
            if named is not None:
                return named.newest(limit)
    if routes.unnamed.verifier is not None and routes.unnamed.size <= limit:
        return routes.unnamed
    raise UnknownApp(
        f"the signed request names no app registered with its Canvas name, and the apps without one hold more "
        f"than {limit} secrets (canvas_max_secrets): set each app's Canvas name (forcegate apps update "
        "CONSUMER_KEY --canvas-name NAME) or point its Canvas URL at /canvas/CONSUMER_KEY"
    )


@dataclass(frozen=True, slots=True)
class VerifiedCanvasRequest:
    """A signed request that verified, the app whose secret signed it, and the org it may speak for."""

    request: CanvasRequest
    app: App
    secret_id: int
    org: OrgTrust | None


async def verify_canvas_request(
    service: AuthenticationService, signed_request: str, *, consumer_key: str | None
) -> VerifiedCanvasRequest:
    """Verify a signed request against the registered apps' secrets (routed as :func:`_route` says)
    and check that the app may speak for its org (:func:`canvas_refusal`). Every Canvas entry —
    ``/canvas`` and ``/enroll/canvas`` — goes through here: one policy."""
    await service.refresh()
    limit = service.settings.canvas_max_secrets
    if consumer_key is not None:
        trust = (await service.registry.canvas(consumer_key)).newest(limit)
    else:
        trust = _route(await service.registry.canvas_routes(), signed_request, limit)
    if trust.verifier is None:
        raise UnknownApp("no registered app" if consumer_key is None else f"no registered app {consumer_key!r}")
    request = trust.verifier.verify(signed_request)
    app = trust.apps[request.secret_index]
    org = await service.registry.org(request.organization_id)
    refused = canvas_refusal(app, org, request.organization_id)
    if refused is not None:
        raise CanvasOrgRefused(refused)
    return VerifiedCanvasRequest(request, app, trust.secret_ids[request.secret_index], org)


async def canvas_login(service: AuthenticationService, signed_request: str, *, consumer_key: str | None) -> CanvasLogin:
    """Verify a signed request against the registered apps' secrets and open a session."""
    verified = await verify_canvas_request(service, signed_request, consumer_key=consumer_key)
    request, app, org = verified.request, verified.app, verified.org
    if service.canvas_liveness is not None:
        # Last, after every local check: a request refused anyway costs no call to Salesforce.
        await service.canvas_liveness.check(request, instance_domains=service.settings.canvas_instance_domains)
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
    session = Session(
        id_hash=session_digest(session_id),
        identity=identity,
        created_at=now,
        expires_at=now + lifetime,
        app_secret_id=verified.secret_id,
    )
    await service.stores.sessions.create(session)
    return CanvasLogin(session_id, identity, request)
