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
from forcegate.errors import ForcegateError
from forcegate.server.app import ForcegateApp, create_app
from forcegate.server.errors import api_error, retry_after
from forcegate.server.hot_endpoints import authorize
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
        try:
            return await authorize(service, request.scope, endpoint=request.url.path, scopes=scopes)
        except ForcegateError as exc:
            status, body, challenge = api_error(exc, development=service.settings.development)
            headers = {"www-authenticate": challenge} if challenge else {}
            seconds = retry_after(exc)
            if seconds is not None:
                headers["retry-after"] = seconds
            raise HTTPException(status, detail=body["error"], headers=headers or None) from None

    def require(self, *scopes: str) -> Callable[[Request], Awaitable[Identity]]:
        """A dependency (FastAPI ``Depends``) yielding the identity, requiring every one of ``scopes``."""

        async def dependency(request: Request) -> Identity:
            return await self.identity(request, scopes=scopes)

        return dependency
