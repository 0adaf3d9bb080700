"""The forcegate ASGI application.

:func:`create_app` returns an ASGI callable: a two-entry dispatch table serves the hot endpoints
(``POST /oauth2/token``, ``GET /api/v1/me``) as raw ASGI, and everything else goes to a Starlette
application (Canvas, introspection, revocation, well-known documents, health, admin API).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from forcegate.clock import Clock
from forcegate.errors import ForcegateError
from forcegate.server._asgi import ASGIApp, Message, Receive, Scope, Send, send_json
from forcegate.server.admin_api import admin_routes
from forcegate.server.canvas_endpoints import canvas_routes
from forcegate.server.hot_endpoints import me_endpoint, token_endpoint
from forcegate.server.oauth_endpoints import oauth_routes, refusal
from forcegate.server.openapi import openapi_document
from forcegate.server.service import Service
from forcegate.settings import Settings, load_settings
from forcegate.stores.bundle import Stores, open_stores

__all__ = ["ForcegateApp", "create_app", "create_app_from_environment"]

log = logging.getLogger("forcegate.server")

PURGE_INTERVAL = 60.0


class ForcegateApp:
    """The service as one ASGI callable. ``service`` is set once the lifespan has started."""

    def __init__(self, settings: Settings, *, stores: Stores | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self._given_stores = stores
        self._clock = clock
        self.service: Service | None = None
        self._hot: dict[str, ASGIApp] = {}
        self._starlette: Starlette | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http":
            # Mounted under a prefix, the path still carries it (ASGI root_path); the table is keyed without.
            path: str = scope["path"]
            root = scope.get("root_path", "")
            hot = self._hot.get(path[len(root) :] if root and path.startswith(root) else path)
            if hot is not None:
                await _guarded(hot, scope, receive, send)
                return
        if self._starlette is None:
            # Only reachable when a server skips the lifespan protocol; refuse rather than guess.
            response = JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
            await response(scope, receive, send)
            return
        await self._starlette(scope, receive, send)

    async def startup(self) -> None:
        stores = self._given_stores or await open_stores(self.settings, migrate="check")
        service = Service(self.settings, stores, clock=self._clock)
        await service.load_signing_keys()
        self.service = service
        self._hot = {"/oauth2/token": token_endpoint(service), "/api/v1/me": me_endpoint(service)}
        self._starlette = self._build_starlette(service)
        service.audit.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._purge_loop(service)))

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.service is not None:
            await self.service.audit.stop()
            if self._given_stores is None:
                await self.service.stores.close()
            self.service = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.error("startup failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _purge_loop(self, service: Service) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            await purge_expired(service)

    def _build_starlette(self, service: Service) -> Starlette:
        document = openapi_document(self.settings)

        async def openapi(_: Request) -> Response:
            return JSONResponse(document)

        routes = [
            *canvas_routes(service),
            *oauth_routes(service),
            *admin_routes(service),
            Route("/openapi.json", openapi, methods=["GET"]),
        ]

        async def forcegate_error(_: Request, exc: Exception) -> Response:
            assert isinstance(exc, ForcegateError)
            return refusal(service, exc)

        async def unexpected(_: Request, exc: Exception) -> Response:
            log.exception("unexpected error", exc_info=exc)
            return JSONResponse({"error": "server_error"}, status_code=500)

        return Starlette(routes=routes, exception_handlers={ForcegateError: forcegate_error, Exception: unexpected})


async def purge_expired(service: Service) -> dict[str, int]:
    """Forget what has expired (claims, rate counters, tokens, sessions) and audit events past the retention limit.

    Every worker runs this periodically; the deletes are idempotent, so workers running it at the
    same time only repeat each other. A store that is down is skipped until the next round.
    """
    stores, now = service.stores, service.clock.now()
    retention_days = service.settings.audit_retention_days
    jobs: dict[str, Callable[[], Awaitable[int]]] = {
        "replay": lambda: stores.replay.purge(now),
        "rates": lambda: stores.rates.purge(now),
        "tokens": lambda: stores.tokens.purge(now),
        "sessions": lambda: stores.sessions.purge(now),
    }
    if retention_days:
        jobs["audit"] = lambda: stores.audit.purge(now - retention_days * 86_400)
    purged: dict[str, int] = {}
    for name, job in jobs.items():
        try:
            purged[name] = await job()
        except Exception as exc:
            log.warning("purge of expired %s failed: %s", name, exc)
    return purged


async def _guarded(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run a raw endpoint; a bug becomes a logged JSON 500 rather than a dropped connection."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except Exception:
        log.exception("unexpected error in %s", scope.get("path"))
        if started:
            raise
        await send_json(send, 500, {"error": "server_error"})


def create_app(
    settings: Settings | None = None, *, stores: Stores | None = None, clock: Clock | None = None
) -> ForcegateApp:
    """The service for ``settings`` (default: from the environment). Stores open in the lifespan."""
    return ForcegateApp(settings if settings is not None else load_settings(), stores=stores, clock=clock)


def create_app_from_environment() -> ForcegateApp:
    """Factory for ASGI servers (``uvicorn --factory forcegate.server.app:create_app_from_environment``)."""
    return create_app(load_settings())
