"""What the Django integration reads from a request and how it answers a refusal: one place for both."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from forcegate.core.identity import Identity
from forcegate.errors import ForcegateError
from forcegate.integrations._web import Answer, same_site_session
from forcegate.resource import SESSION_COOKIE, Refusal
from forcegate.resource._refusal import refusal

__all__ = [
    "NOT_VERIFIED",
    "ForcegateRequest",
    "answer_response",
    "client_address",
    "get_identity",
    "identity_or_unverified",
    "read_credentials",
    "refusal_of",
    "refusal_response",
    "set_identity",
]

#: What :func:`identity_or_unverified` answers when nothing verified this request (no middleware ran).
NOT_VERIFIED: Any = object()


class ForcegateRequest(HttpRequest):
    """For type annotations only: a request the middleware has seen (``request.forcegate``)."""

    forcegate: Identity | None


def read_credentials(request: HttpRequest) -> tuple[str | None, str | None]:
    """The ``Authorization`` header as sent, and the ``forcegate_session`` cookie's value (None when empty).

    The cookie is dropped from a cross-origin unsafe request, as ``SameSite`` would drop it
    (:func:`~forcegate.integrations._web.same_site_session`); this site's origin and
    ``settings.CSRF_TRUSTED_ORIGINS`` are the app's own. A bearer credential is always read.
    """
    session = same_site_session(
        request.COOKIES.get(SESSION_COOKIE) or None,
        method=request.method or "GET",
        origin=request.headers.get("Origin"),
        fetch_site=request.headers.get("Sec-Fetch-Site"),
        own_origin=f"{request.scheme}://{request.get_host()}",
        trusted_origins=getattr(settings, "CSRF_TRUSTED_ORIGINS", ()),
    )
    return request.headers.get("Authorization"), session


def client_address(request: HttpRequest) -> str | None:
    """The client's address as Django resolved it (``REMOTE_ADDR``; behind a proxy, as the deployment sets it)."""
    address = request.META.get("REMOTE_ADDR")
    return address if isinstance(address, str) and address else None


def set_identity(request: HttpRequest, identity: Identity | None) -> None:
    request.forcegate = identity  # type: ignore[attr-defined]


def get_identity(request: HttpRequest) -> Identity | None:
    """``request.forcegate``: the verified identity, or None (no credential, or no middleware)."""
    identity = getattr(request, "forcegate", None)
    return identity if isinstance(identity, Identity) else None


def identity_or_unverified(request: HttpRequest) -> Any:
    """``request.forcegate`` when the middleware set it (an Identity or None), else :data:`NOT_VERIFIED`."""
    return getattr(request, "forcegate", NOT_VERIFIED)


def refusal_of(exc: ForcegateError, *, development: bool) -> Refusal:
    """``exc`` as forcegate's resource edge answers it (the decorator's own 401 and 403)."""
    return refusal(exc, development=development)


def answer_response(answer: Answer) -> HttpResponse:
    """A framework-neutral :class:`~forcegate.integrations._web.Answer` as Django's response (headers as given)."""
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    if answer.content_type is None:
        del response["Content-Type"]
    for name, value in answer.headers:
        response[name] = value  # one of each: the answers never repeat a header (one Set-Cookie at most)
    return response


def refusal_response(refused: Refusal) -> JsonResponse:
    """The refusal as JSON: forcegate's body, its status, ``WWW-Authenticate``, ``Retry-After``, no-store."""
    response = JsonResponse(dict(refused.body), status=refused.status)
    for name, value in refused.headers:
        response[name] = value
    return response
