"""Use forcegate inside your own Starlette or FastAPI application.

Mount the service and protect your routes with the same unified identity ``/api/v1/me`` returns::

    from fastapi import Depends, FastAPI
    from forcegate.core import Identity
    from forcegate.server import Forcegate

    forcegate = Forcegate()                       # settings from FORCEGATE_* / FORCEGATE_CONFIG
    app = FastAPI(lifespan=forcegate.lifespan, exception_handlers=forcegate.exception_handlers)

    @app.get("/orders")
    async def orders(identity: Identity = Depends(forcegate.require("orders:read"))) -> dict:
        return {"org": identity.org_id, "params": dict(identity.parameters)}

    app.mount("/", forcegate.app)                 # token endpoint, /canvas, … (mount last)

A request is accepted with a Canvas session, an access token from ``/oauth2/token``, or an
Apex-signed JWT sent directly as bearer (single use), under the same rules as the service's own
endpoints; each decision is audited. A refusal is raised as :class:`ForcegateRefusal` (an
``HTTPException``): with ``exception_handlers`` installed it answers exactly as ``/api/v1/me`` does
(RFC 6750 status and challenge, the JSON ``error``/``error_description``/``code``); without, the
framework's own handler answers with the same status, headers and that JSON under ``detail``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from forcegate.clock import Clock
from forcegate.core.identity import Identity
from forcegate.errors import ForcegateError
from forcegate.server.app import ForcegateApp, create_app
from forcegate.server.request import client_address, credentials, local_path
from forcegate.server.responses import Edge, RenderedError, render_error
from forcegate.service.authentication import AuthenticationService
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores

__all__ = ["Forcegate", "ForcegateRefusal"]


class ForcegateRefusal(HTTPException):
    """A refused request at a route protected by :meth:`Forcegate.require`, rendered like ``/api/v1/me``'s."""

    def __init__(self, rendered: RenderedError) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in rendered.headers if k != b"content-type"}
        super().__init__(rendered.status, detail=orjson.loads(rendered.body), headers=headers)
        self.rendered = rendered

    def response(self) -> Response:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.rendered.headers}
        media_type = headers.pop("content-type")
        return Response(self.rendered.body, status_code=self.rendered.status, headers=headers, media_type=media_type)


async def _refusal_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ForcegateRefusal)
    return exc.response()


class Forcegate:
    """The forcegate service embedded in an application, with a dependency for its routes."""

    #: Pass to ``FastAPI(exception_handlers=…)`` / ``Starlette(exception_handlers=…)`` so refusals
    #: answer with forcegate's JSON shape rather than the framework's ``{"detail": …}``.
    exception_handlers: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ForcegateRefusal: _refusal_handler
    }

    def __init__(
        self, settings: Settings | None = None, *, stores: Stores | None = None, clock: Clock | None = None
    ) -> None:
        self.app: ForcegateApp = create_app(settings, stores=stores, clock=clock)

    @property
    def service(self) -> AuthenticationService:
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
        """The verified identity of ``request``, with ``scopes`` enforced; raises :class:`ForcegateRefusal`."""
        service = self.service
        scope = request.scope
        try:
            return await service.authorize(
                credentials(scope), endpoint=local_path(scope), client=client_address(scope), scopes=scopes
            )
        except ForcegateError as exc:
            # The framework's exception machinery answers; this only translates to its exception type.
            rendered = render_error(exc, Edge.RESOURCE, development=service.settings.development)
            raise ForcegateRefusal(rendered) from None

    def require(self, *scopes: str) -> Callable[[Request], Awaitable[Identity]]:
        """A dependency (FastAPI ``Depends``) yielding the identity, requiring every one of ``scopes``."""

        async def dependency(request: Request) -> Identity:
            return await self.identity(request, scopes=scopes)

        return dependency
