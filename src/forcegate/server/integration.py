"""Use forcegate inside your own Starlette or FastAPI application.

Mount the service and protect your routes with the same unified identity ``/api/v1/me`` returns::

    from fastapi import Depends, FastAPI
    from forcegate.core import Identity
    from forcegate.server import Forcegate

    forcegate = Forcegate()                       # settings from FORCEGATE_* / FORCEGATE_CONFIG
    app = FastAPI(lifespan=forcegate.lifespan)

    @app.get("/orders")
    async def orders(identity: Identity = Depends(forcegate.require("orders:read"))) -> dict:
        return {"org": identity.org_id, "params": dict(identity.parameters)}

    app.mount("/", forcegate.app)                 # token endpoint, /canvas, … (mount last)

A request is accepted with a Canvas session, an access token from ``/oauth2/token``, or an
Apex-signed JWT sent directly as bearer (single use), under the same rules as the service's own
endpoints; each decision is audited. Missing or bad credentials give 401 with an RFC 6750
challenge; missing scopes give 403 ``insufficient_scope``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from forcegate.clock import Clock
from forcegate.core.identity import Identity
from forcegate.errors import ForcegateError, InsufficientScope
from forcegate.server.app import ForcegateApp, create_app
from forcegate.server.errors import NoCredentials, api_error
from forcegate.server.hot_endpoints import authenticate, refusal_event
from forcegate.server.service import Service
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores

__all__ = ["Forcegate"]


class Forcegate:
    """The forcegate service embedded in an application, with a dependency for its routes."""

    def __init__(
        self, settings: Settings | None = None, *, stores: Stores | None = None, clock: Clock | None = None
    ) -> None:
        self.app: ForcegateApp = create_app(settings, stores=stores, clock=clock)

    @property
    def service(self) -> Service:
        if self.app.service is None:
            raise RuntimeError("forcegate has not started: pass Forcegate.lifespan to your application")
        return self.app.service

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Starlette/FastAPI lifespan: mounted applications do not get their own, so start it here."""
        await self.app.startup()
        try:
            yield
        finally:
            await self.app.shutdown()

    async def identity(self, request: Request, *, scopes: tuple[str, ...] = ()) -> Identity:
        """The verified identity of ``request``, with ``scopes`` enforced; raises ``HTTPException``."""
        service = self.service
        audit = service.audit
        client = request.client.host if request.client else None
        try:
            identity, credential = await authenticate(service, request.scope)
            if not identity.has_scopes(scopes):
                missing = " ".join(sorted(set(scopes) - identity.scopes))
                raise InsufficientScope(f"missing scope(s): {missing}")
        except ForcegateError as exc:
            status, body, challenge = api_error(exc, development=service.settings.development)
            if not isinstance(exc, NoCredentials):
                audit.enqueue(refusal_event(service, request.scope, exc, request.url.path))
            headers = {"www-authenticate": challenge} if challenge else None
            raise HTTPException(status, detail=body["error"], headers=headers) from None
        event = audit.event(
            endpoint=request.url.path,
            credential=credential,
            org_id=identity.org_id,
            user_id=identity.user_id,
            subject=identity.username,
            issuer=identity.issuer,
            client=client,
        )
        if credential == "jwt":
            try:
                await audit.write(event)
            except ForcegateError as exc:  # the assertion was consumed but cannot be audited: refuse
                status, body, _ = api_error(exc, development=service.settings.development)
                raise HTTPException(status, detail=body["error"]) from None
        else:
            audit.enqueue(event)
        return identity

    def require(self, *scopes: str) -> Callable[[Request], Awaitable[Identity]]:
        """A dependency (FastAPI ``Depends``) yielding the identity, requiring every one of ``scopes``."""

        async def dependency(request: Request) -> Identity:
            return await self.identity(request, scopes=scopes)

        return dependency
