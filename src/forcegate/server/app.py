"""The forcegate ASGI application.

:func:`create_app` returns an ASGI callable: a two-entry dispatch table serves the hot endpoints
(``POST /oauth2/token``, ``GET /api/v1/me``) as raw ASGI, and everything else goes to a Starlette
application (Canvas, introspection, revocation, well-known documents, health, admin API). Both
render refusals the same way, through :mod:`forcegate.server.responses`: an endpoint raises, this
module answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forcegate.clock import Clock
from forcegate.errors import ForcegateError, StoreUnavailable
from forcegate.registry.service import RegistryService
from forcegate.server._asgi import ASGIApp, Message, Receive, Scope, Send, send_json
from forcegate.server.endpoints.hot import ME_ENDPOINT, me, token
from forcegate.server.logs import REQUEST_ID, REQUEST_ID_HEADER, request_id_of
from forcegate.server.observability import Observability, RequestObserver, start_observability
from forcegate.server.openapi import openapi_document
from forcegate.server.request import local_path
from forcegate.server.responses import Edge, edge_of, error_response, send_error
from forcegate.server.routes import routes
from forcegate.server.runtime import SCOPE_KEY, Runtime
from forcegate.service.authentication import AuthenticationService
from forcegate.service.maintenance import purge_expired
from forcegate.service.notifications import Notifier
from forcegate.settings import Settings, load_settings
from forcegate.stores.bundle import Stores
from forcegate.stores.instrumented import instrument
from forcegate.stores.opening import open_stores

__all__ = ["ForcegateApp", "create_app", "create_app_from_environment"]

log = logging.getLogger("forcegate.server")

PURGE_INTERVAL = 60.0
_HOT: dict[str, ASGIApp] = {"/oauth2/token": token, ME_ENDPOINT: me}


class ForcegateApp:
    """The service as one ASGI callable. ``service`` and ``registry`` are set once the lifespan has started."""

    def __init__(self, settings: Settings, *, stores: Stores | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self._given_stores = stores
        self._clock = clock
        self.runtime: Runtime | None = None
        self._routes = routes(settings)
        self._observability: Observability | None = None
        self._observe: RequestObserver | None = None  # the request hook of _observability, if any
        self._starlette = Starlette(
            routes=self._routes,
            exception_handlers={ForcegateError: self._render, Exception: _unexpected},
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def service(self) -> AuthenticationService | None:
        return None if self.runtime is None else self.runtime.service

    @property
    def registry(self) -> RegistryService | None:
        return None if self.runtime is None else self.runtime.registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await self._starlette(scope, receive, send)
            return
        # Every log line written while serving this request names it (forcegate.server.logs); one
        # coroutine level for the whole dispatch, since this runs on every request.
        request_id = request_id_of(scope)
        reset = REQUEST_ID.set(request_id)
        status = [0]  # the answer's status, once sent (0: nothing sent yet)

        async def respond(message: Message) -> None:  # every answer: its request id, its status noted
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]
            await send(message)

        observe = self._observe
        handle = None if observe is None else observe.begin(scope)
        try:
            if self.runtime is None:
                # Only when a server skipped the lifespan protocol: refuse rather than guess.
                unstarted = StoreUnavailable("forcegate has not started (the ASGI lifespan did not run)")
                await self._send_error(respond, unstarted, scope)
                return
            scope[SCOPE_KEY] = self.runtime
            hot = _HOT.get(local_path(scope))
            if hot is not None:
                await self._guarded(hot, scope, receive, respond, status)
            else:
                await self._starlette(scope, receive, respond)
        finally:
            if observe is not None:
                observe.end(handle, scope, status[0] or 500)
            REQUEST_ID.reset(reset)

    def edge(self, path: str) -> Edge:
        """The edge a path answers at; the landing page, wherever it is configured, is Canvas's."""
        return Edge.CANVAS if path == self.settings.canvas_landing_path else edge_of(path)

    async def _send_error(self, send: Send, exc: ForcegateError, scope: Scope) -> None:
        """Render ``exc`` onto a raw ``send``, for the edge of the request's path."""
        await send_error(
            send,
            exc,
            self.edge(local_path(scope)),
            development=self.settings.development,
            instance_domains=self.settings.canvas_instance_domains,
        )

    async def _render(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ForcegateError)
        return error_response(
            exc,
            self.edge(local_path(request.scope)),
            development=self.settings.development,
            instance_domains=self.settings.canvas_instance_domains,
        )

    async def _guarded(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, status: list[int]) -> None:
        """Run a raw endpoint: a refusal is rendered for its edge, a bug becomes a logged JSON 500.
        ``status[0]`` is the status ``send`` has started an answer with (0: none yet)."""
        try:
            await app(scope, receive, send)
        except ForcegateError as exc:
            if status[0]:
                raise
            await self._send_error(send, exc, scope)
        except Exception:
            log.exception("unexpected error in %s", scope.get("path"))
            if status[0]:
                raise
            await send_json(send, 500, {"error": "server_error"})

    async def startup(self) -> None:
        observability = start_observability(self.settings, self._routes)
        stores = self._given_stores or await open_stores(self.settings, migrate="check")
        if observability.store is not None:
            stores = instrument(stores, observability.store)
        service = AuthenticationService(self.settings, stores, clock=self._clock)
        service.audit.observer = observability.decision
        await service.load_signing_keys()
        registry = RegistryService(stores, settings=self.settings, clock=self._clock)
        self.runtime = Runtime(
            self.settings,
            service,
            registry,
            openapi_document(self.settings),
            self.settings.proxy_networks,
            metrics=observability.metrics,
        )
        self._observability = observability
        self._observe = observability.request
        observability.start()
        service.audit.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._purge_loop(service)))
        if self.settings.notify_url is not None:
            # Beside the requests, never in their way: its own task, every failure caught inside.
            metrics = observability.metrics
            notifier = Notifier(
                stores,
                self.settings,
                clock=service.clock,
                observer=None if metrics is None else metrics.notification,
            )
            self._tasks.append(asyncio.get_running_loop().create_task(notifier.run()))

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.runtime is not None:
            await self.runtime.service.audit.stop()
            if self._given_stores is None:
                await self.runtime.service.stores.close()
            self.runtime = None
        if self._observability is not None:
            self._observe = None
            self._observability.close()
            self._observability = None

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

    async def _purge_loop(self, service: AuthenticationService) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            await purge_expired(service.stores, service.settings, service.clock)


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse({"error": "server_error"}, status_code=500)


def create_app(
    settings: Settings | None = None, *, stores: Stores | None = None, clock: Clock | None = None
) -> ForcegateApp:
    """The service for ``settings`` (default: from the environment). Stores open in the lifespan."""
    return ForcegateApp(settings if settings is not None else load_settings(), stores=stores, clock=clock)


def create_app_from_environment() -> ForcegateApp:
    """Factory for ASGI servers: ``uvicorn --factory --no-proxy-headers
    forcegate.server.app:create_app_from_environment``. Forwarded headers are forcegate's to judge
    (``FORCEGATE_TRUSTED_PROXIES``); uvicorn's default would trust them from 127.0.0.1."""
    return create_app(load_settings())
