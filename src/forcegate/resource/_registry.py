"""Verify every forcegate credential in-process, against the registry the service itself uses.

:class:`RegistryVerifier` is the service's own request logic — :class:`forcegate.service.AuthenticationService`
over the stores ``FORCEGATE_*`` name (the embedded SQLite file, or PostgreSQL and Redis) — run inside
the application: access tokens (with revocation and the org's state), Apex JWTs sent directly
(single use, rate-limited), Canvas sessions (ended when their trust ends), and Canvas logins that open
them (decision 0009). Nothing is re-implemented here: each decision is the service's, audited in the
same audit log. The stores live on a private event loop (see :mod:`forcegate.resource._loop`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from forcegate.clock import Clock
from forcegate.core.canvas_request import CanvasRequest
from forcegate.core.identity import Identity
from forcegate.errors import ForcegateError, NoStore
from forcegate.resource._loop import LoopThread
from forcegate.resource._refusal import refusal
from forcegate.resource._verifier import DEFAULT_ENDPOINT
from forcegate.service.authentication import AuthenticationService
from forcegate.service.canvas import open_canvas_session
from forcegate.service.credentials import Credentials, session_cookie_header
from forcegate.service.tokens import end_session
from forcegate.settings import Settings, load_settings
from forcegate.stores.opening import open_stores
from forcegate.stores.schema import schema_state

__all__ = ["CANVAS_ENDPOINT", "CanvasSession", "RegistryVerifier"]

R = TypeVar("R")
CANVAS_ENDPOINT = "/canvas"


@dataclass(frozen=True, slots=True)
class CanvasSession:
    """A Canvas session just opened: what a framework adapter answers the browser with.

    ``set_cookie`` is the whole ``Set-Cookie`` header value (``forcegate_session=…; Path=/;
    Max-Age=…; HttpOnly; Secure; SameSite=None; Partitioned``): send it as a raw header, since
    neither Django's ``set_cookie`` nor Werkzeug before 3.1 can write ``Partitioned``. ``session_id``
    is the cookie's value (only its SHA-256 is stored). ``request`` is the verified signed request,
    ``client.oauthToken`` included, for an app that calls Salesforce while it has it: forcegate does
    not keep it.
    """

    session_id: str = field(repr=False)
    identity: Identity
    set_cookie: str = field(repr=False)
    request: CanvasRequest = field(repr=False)


class RegistryVerifier:
    """The forcegate service's verification, in-process: for an app that shares the service's registry.

    ``settings``: the service's (:func:`forcegate.settings.load_settings`, default: from ``FORCEGATE_*``
    and ``FORCEGATE_CONFIG``) — the same database, encryption key and public URL as the service, since
    the access tokens' ``iss``/``aud`` and the audiences of direct Apex JWTs follow from it (add the
    app's own URL to ``extra_audiences`` for Apex to address JWTs to the app). The store must exist
    (``forcegate init`` or ``forcegate serve`` creates it; this never creates or migrates one).
    Nothing is opened until the first call. ``timeout``: the longest a call may wait for the store.
    Refusals are :class:`Refusal`, at the resource edge for :meth:`verify`, at the Canvas edge for
    :meth:`open_canvas_session`.
    """

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None, timeout: float = 30.0) -> None:
        self.settings = settings if settings is not None else load_settings()
        self._clock = clock
        self._loop: LoopThread[AuthenticationService] = LoopThread(
            "forcegate-registry", self._open, _close, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"RegistryVerifier(public_url={self.settings.public_url!r})"

    # --- credentials at a protected resource ----------------------------------------------------------

    def verify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        """The identity behind an access token, a direct Apex JWT or a Canvas session, with ``scopes``.

        ``authorization``: the ``Authorization`` header (it wins when both are sent); ``session``: the
        ``forcegate_session`` cookie's value. ``client`` (the caller's address) feeds the failure limits
        and the audit row, ``endpoint`` (the request's path) names the row. Else :class:`Refusal`.
        """
        return self._run(self._authorize(Credentials(authorization, session), scopes, client, endpoint))

    async def averify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        """:meth:`verify`, awaited (the store work runs on the verifier's loop)."""
        return await self._arun(self._authorize(Credentials(authorization, session), scopes, client, endpoint))

    # --- Canvas ---------------------------------------------------------------------------------------

    def open_canvas_session(
        self,
        form: Mapping[str, str],
        *,
        consumer_key: str | None = None,
        origin: str | None = None,
        client: str | None = None,
        endpoint: str = CANVAS_ENDPOINT,
    ) -> CanvasSession:
        """Verify the ``signed_request`` Salesforce POSTed (``form``) and open a session, as ``POST /canvas``.

        ``consumer_key``: check only that app's secrets (the service's ``/canvas/{consumer_key}``);
        ``origin``: the request's ``Origin`` header, which must be a Salesforce page when sent. The
        adapter sets :attr:`CanvasSession.set_cookie` and redirects (303) to its landing page; it must
        exempt this view from its framework's CSRF check (Salesforce's POST is cross-site by design; the
        signature and the ``Origin`` check stand in for it). Else :class:`Refusal` (no challenge: answer
        the browser a page with its status).
        """
        return self._run(self._canvas(form, consumer_key, origin, client, endpoint), canvas=True)

    async def aopen_canvas_session(
        self,
        form: Mapping[str, str],
        *,
        consumer_key: str | None = None,
        origin: str | None = None,
        client: str | None = None,
        endpoint: str = CANVAS_ENDPOINT,
    ) -> CanvasSession:
        """:meth:`open_canvas_session`, awaited."""
        return await self._arun(self._canvas(form, consumer_key, origin, client, endpoint), canvas=True)

    def end_session(self, session: str, *, client: str | None = None, endpoint: str = DEFAULT_ENDPOINT) -> str:
        """End the Canvas session ``session`` (a logout) and return the ``Set-Cookie`` value that drops the cookie."""
        self._run(self._end(session, client, endpoint))
        return self.clear_cookie

    async def aend_session(self, session: str, *, client: str | None = None, endpoint: str = DEFAULT_ENDPOINT) -> str:
        """:meth:`end_session`, awaited."""
        await self._arun(self._end(session, client, endpoint))
        return self.clear_cookie

    @property
    def clear_cookie(self) -> str:
        """The ``Set-Cookie`` value that removes the session cookie (same attributes, ``Max-Age=0``)."""
        return session_cookie_header("", self.settings, max_age=0)

    def close(self) -> None:
        """Write the queued audit rows, close the stores, stop the verifier's thread."""
        self._loop.close()

    async def aclose(self) -> None:
        """:meth:`close`, awaited."""
        await asyncio.to_thread(self._loop.close)

    # --- on the loop ----------------------------------------------------------------------------------

    async def _open(self) -> AuthenticationService:
        if (await schema_state(self.settings)).current == 0:
            # open_stores would create an empty SQLite file: the service's store is not where we look.
            # Not the URL itself: it may hold a password.
            where = "the database_url" if self.settings.database_url else str(self.settings.data_dir.resolve())
            raise NoStore(
                f"no forcegate store at {where}: point the settings (FORCEGATE_DATA_DIR, FORCEGATE_DATABASE_URL) "
                "at the service's, which forcegate init or forcegate serve creates"
            )
        stores = await open_stores(self.settings, migrate="check")
        try:
            service = AuthenticationService(self.settings, stores, clock=self._clock)
            await service.load_signing_keys()
        except BaseException:
            await stores.close()
            raise
        service.audit.start()
        return service

    @staticmethod
    def _authorize(
        credentials: Credentials, scopes: Collection[str], client: str | None, endpoint: str
    ) -> Callable[[AuthenticationService], Coroutine[Any, Any, Identity]]:
        async def work(service: AuthenticationService) -> Identity:
            return await service.authorize(credentials, endpoint=endpoint, client=client, scopes=tuple(scopes))

        return work

    def _canvas(
        self, form: Mapping[str, str], consumer_key: str | None, origin: str | None, client: str | None, endpoint: str
    ) -> Callable[[AuthenticationService], Coroutine[Any, Any, CanvasSession]]:
        fields = dict(form)

        async def read_form() -> Mapping[str, str]:
            return fields

        async def work(service: AuthenticationService) -> CanvasSession:
            login = await open_canvas_session(
                service, read_form, consumer_key=consumer_key, endpoint=endpoint, client=client, origin=origin
            )
            cookie = session_cookie_header(login.session_id, self.settings)
            return CanvasSession(login.session_id, login.identity, cookie, login.request)

        return work

    @staticmethod
    def _end(
        session: str, client: str | None, endpoint: str
    ) -> Callable[[AuthenticationService], Coroutine[Any, Any, bool]]:
        async def work(service: AuthenticationService) -> bool:
            return await end_session(service, session, endpoint=endpoint, client=client)

        return work

    def _run(self, work: Callable[[AuthenticationService], Coroutine[Any, Any, R]], *, canvas: bool = False) -> R:
        try:
            return self._loop.call(work)
        except ForcegateError as exc:
            raise refusal(exc, development=self.settings.development, canvas=canvas) from exc

    async def _arun(
        self, work: Callable[[AuthenticationService], Coroutine[Any, Any, R]], *, canvas: bool = False
    ) -> R:
        try:
            return await self._loop.acall(work)
        except ForcegateError as exc:
            raise refusal(exc, development=self.settings.development, canvas=canvas) from exc


async def _close(service: AuthenticationService) -> None:
    try:
        await service.audit.stop()
    finally:
        await service.stores.close()
