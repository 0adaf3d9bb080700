"""The middleware that puts the :class:`~forcegate.core.Identity` on ``request.forcegate``, and the view decorators.

The middleware verifies in ``process_view`` — once the URL is resolved, so the Canvas views (which
must not be refused for a stale session cookie: they open or end one) and any ``@forcegate_exempt``
view are left alone, and so are Django REST framework views, which authenticate with their own
``authentication_classes`` (:class:`forcegate.integrations.drf.ForcegateAuthentication`) and answer
the DRF way. A request without ``Authorization`` header and session cookie is not verified
at all (``request.forcegate`` is None); a refused credential is answered at once with forcegate's
refusal as JSON, as Django REST framework does for a wrong token even on an open view. Both WSGI and
ASGI: under ASGI it awaits ``averify``, so a worker thread is never held for the store or the JWKS.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from forcegate.errors import InsufficientScope, NoCredentials
from forcegate.integrations.django._config import development, get_verifier
from forcegate.integrations.django._http import (
    NOT_VERIFIED,
    client_address,
    identity_or_unverified,
    read_credentials,
    refusal_of,
    refusal_response,
    set_identity,
)
from forcegate.resource import Refusal

__all__ = ["ForcegateMiddleware", "forcegate_exempt", "forcegate_required"]

V = TypeVar("V", bound=Callable[..., Any])
_GetResponse = Callable[[HttpRequest], HttpResponseBase] | Callable[[HttpRequest], Awaitable[HttpResponseBase]]


def forcegate_exempt(view: V) -> V:
    """Mark ``view`` so the middleware does not verify its requests' credentials (``request.forcegate`` is None).

    For the views that handle a stale credential themselves; the Canvas and logout views are exempt.
    """
    view.forcegate_exempt = True  # type: ignore[attr-defined]
    return view


class ForcegateMiddleware:
    """``MIDDLEWARE += ["forcegate.integrations.django.ForcegateMiddleware"]``: ``request.forcegate`` on every request.

    None when the request carries no credential (or the view is :func:`forcegate_exempt`), the
    :class:`~forcegate.core.Identity` when it verifies; a refused credential (a wrong or expired token,
    a session that ended, a direct Apex JWT used twice) is answered with the refusal: its status (401,
    400 for a malformed header, 429, 503 …), forcegate's JSON body and ``WWW-Authenticate``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
            # Django awaits an async process_view in an async chain; a sync one would be run in its one
            # thread for sync code, one request at a time.
            self.process_view = self._aprocess_view  # type: ignore[method-assign, assignment]

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        if _left_to_drf(view):
            return None
        set_identity(request, None)
        authorization, session = read_credentials(request)
        if getattr(view, "forcegate_exempt", False) or (authorization is None and session is None):
            return None
        try:
            identity = get_verifier().verify(
                authorization, session=session, client=client_address(request), endpoint=request.path
            )
        except Refusal as refused:
            return refusal_response(refused)
        set_identity(request, identity)
        return None

    async def _aprocess_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        if _left_to_drf(view):
            return None
        set_identity(request, None)
        authorization, session = read_credentials(request)
        if getattr(view, "forcegate_exempt", False) or (authorization is None and session is None):
            return None
        try:
            identity = await get_verifier().averify(
                authorization, session=session, client=client_address(request), endpoint=request.path
            )
        except Refusal as refused:
            return refusal_response(refused)
        set_identity(request, identity)
        return None


def _left_to_drf(view: Callable[..., Any]) -> bool:
    """A Django REST framework view (``APIView.as_view()`` sets ``cls``) authenticates with its own classes:
    ``ForcegateAuthentication`` verifies there and answers refusals the DRF way (and sets ``request.forcegate``)."""
    return hasattr(getattr(view, "cls", None), "authentication_classes")


@overload
def forcegate_required(view: V, /) -> V: ...


@overload
def forcegate_required(*, scopes: Collection[str] = ()) -> Callable[[V], V]: ...


def forcegate_required(view: V | None = None, /, *, scopes: Collection[str] = ()) -> V | Callable[[V], V]:
    """Let ``view`` run only for a verified credential that grants every one of ``scopes``.

    ``@forcegate_required`` or ``@forcegate_required(scopes=["orders:read"])``, on a sync or an async
    view. Without a credential: 401 with ``WWW-Authenticate: Bearer realm="forcegate"``; without a
    scope: 403 ``insufficient_scope`` with its challenge (RFC 6750 §3.1); forcegate's JSON body. With
    the middleware, the identity it verified is used (a direct Apex JWT is single-use: it is never
    verified twice); without it, the decorator verifies the request itself, scopes included.
    """
    if isinstance(scopes, str) or isinstance(view, str):
        raise TypeError("scopes is a collection of scope names: scopes=['orders:read'], not a string")
    wanted = tuple(scopes)

    def decorate(inner: V) -> V:
        if iscoroutinefunction(inner):

            @functools.wraps(inner)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refused = await _acheck(request, wanted)
                return refused if refused is not None else await inner(request, *args, **kwargs)

            return async_view  # type: ignore[return-value]

        @functools.wraps(inner)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = _check(request, wanted)
            return refused if refused is not None else inner(request, *args, **kwargs)

        return sync_view  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def _check(request: HttpRequest, scopes: tuple[str, ...]) -> HttpResponseBase | None:
    identity = identity_or_unverified(request)
    if identity is NOT_VERIFIED:  # no middleware: verify here, with the scopes
        authorization, session = read_credentials(request)
        try:
            verified = get_verifier().verify(
                authorization, session=session, scopes=scopes, client=client_address(request), endpoint=request.path
            )
        except Refusal as refused:
            return refusal_response(refused)
        set_identity(request, verified)
        return None
    return _judge(identity, scopes)


async def _acheck(request: HttpRequest, scopes: tuple[str, ...]) -> HttpResponseBase | None:
    identity = identity_or_unverified(request)
    if identity is NOT_VERIFIED:
        authorization, session = read_credentials(request)
        try:
            verified = await get_verifier().averify(
                authorization, session=session, scopes=scopes, client=client_address(request), endpoint=request.path
            )
        except Refusal as refused:
            return refusal_response(refused)
        set_identity(request, verified)
        return None
    return _judge(identity, scopes)


def _judge(identity: Any, scopes: tuple[str, ...]) -> HttpResponseBase | None:
    if identity is None:
        return refusal_response(refusal_of(NoCredentials("no credentials"), development=development()))
    if not identity.has_scopes(scopes):
        missing = " ".join(sorted(set(scopes) - identity.scopes))
        refused = refusal_of(InsufficientScope(f"missing scope(s): {missing}"), development=development())
        return refusal_response(refused)
    return None
