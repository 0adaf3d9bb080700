"""forcegate in Django REST framework (docs/django.md): ``pip install 'forcegate[drf]'``.

* :class:`ForcegateAuthentication` — an ``authentication_classes`` entry: ``request.user`` is a
  :class:`ForcegateUser` (no database row), ``request.auth`` the :class:`~forcegate.core.Identity`;
  put it first, so DRF answers 401 with its ``WWW-Authenticate: Bearer …`` challenge (RFC 6750);
* :class:`HasForcegateScopes` and :func:`ForcegateScopes` — permission classes: 403
  ``insufficient_scope`` with its challenge when a scope is missing, 401 without a forcegate credential;
* :func:`identity_of` — ``request.auth``, typed as the :class:`~forcegate.core.Identity`;
* :func:`exception_handler` — DRF's, plus forcegate's ``Cache-Control: no-store`` on its refusals
  (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``; optional).

Refusals are DRF exceptions (:class:`ForcegateRefused` subclasses of ``AuthenticationFailed``,
``NotAuthenticated``, ``PermissionDenied``, ``Throttled``), rendered the DRF way: ``{"detail": …}``, with
forcegate's body beside it (``error``, the OAuth error; ``error_description`` and ``code`` when
forcegate tells them) and its status. Settings, verifier and middleware are the Django integration's
(:mod:`forcegate.integrations.django`); its middleware leaves DRF views to these classes, and a
credential is never verified twice for one request (a direct Apex JWT is single-use).
"""

from __future__ import annotations

from forcegate._extras import require_extra

require_extra("forcegate.integrations.drf", "drf", "rest_framework")

from typing import TYPE_CHECKING, Any  # noqa: E402 - after the extra's check

from django.http import HttpRequest  # noqa: E402
from rest_framework import exceptions  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.permissions import BasePermission  # noqa: E402
from rest_framework.request import Request  # noqa: E402

from forcegate.core.identity import Identity  # noqa: E402
from forcegate.errors import InsufficientScope, NoCredentials  # noqa: E402
from forcegate.integrations.django._config import development, get_verifier  # noqa: E402
from forcegate.integrations.django._http import (  # noqa: E402
    NOT_VERIFIED,
    client_address,
    identity_or_unverified,
    read_credentials,
    refusal_of,
    set_identity,
)
from forcegate.resource import Refusal  # noqa: E402
from forcegate.service.refusals import CHALLENGE  # noqa: E402

if TYPE_CHECKING:
    from rest_framework.response import Response

__all__ = [
    "ForcegateAuthentication",
    "ForcegateAuthenticationFailed",
    "ForcegateNotAuthenticated",
    "ForcegatePermissionDenied",
    "ForcegateRefused",
    "ForcegateScopes",
    "ForcegateThrottled",
    "ForcegateUser",
    "HasForcegateScopes",
    "exception_handler",
    "identity_of",
    "refused_exception",
]

_CHALLENGE_ATTRIBUTE = "_forcegate_challenge"


class ForcegateUser:
    """``request.user`` for a forcegate identity: authenticated, but no Django user (nothing in the database).

    ``pk`` (``"<org id>:<user id>"``) keys DRF's ``UserRateThrottle`` per Salesforce user; ``identity``
    is ``request.auth``. It has no Django permissions or groups: authorize with scopes or the identity.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    @property
    def pk(self) -> str:
        return f"{self.identity.org_id}:{self.identity.user_id or ''}"

    id = pk

    @property
    def username(self) -> str:
        return self.identity.username or self.identity.user_id or self.identity.org_id

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False

    def has_perms(self, perms: object, obj: object = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"ForcegateUser(org_id={self.identity.org_id!r}, user_id={self.identity.user_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ForcegateUser) and other.identity == self.identity

    def __hash__(self) -> int:
        return hash(self.identity)


# --- refusals as DRF exceptions --------------------------------------------------------------------------


class ForcegateRefused(exceptions.APIException):
    """A forcegate :class:`~forcegate.resource.Refusal` as a DRF exception: its status, challenge and body.

    ``detail`` is ``{"detail": <DRF-style message>, **refused.body}``; ``auth_header`` the
    ``WWW-Authenticate`` value and ``wait`` the ``Retry-After`` seconds, which DRF's exception handler
    sends; ``refusal`` the whole refusal (``refusal.code`` is forcegate's stable code, for your log).
    """

    message = "The request was refused."

    def __init__(self, refused: Refusal) -> None:
        super().__init__(detail={"detail": self._message(refused), **refused.body}, code=refused.code)
        self.refusal = refused
        self.status_code = refused.status
        self.auth_header = refused.challenge
        self.wait = refused.retry_after

    def _message(self, refused: Refusal) -> str:
        if refused.status == 503:
            return "The service is temporarily unavailable."
        if refused.status >= 500:
            return "A server error occurred."
        if refused.status == 400:
            return "The Authorization header is malformed."
        return self.message


class ForcegateAuthenticationFailed(ForcegateRefused, exceptions.AuthenticationFailed):
    message = "Incorrect authentication credentials."


class ForcegateNotAuthenticated(ForcegateRefused, exceptions.NotAuthenticated):
    message = "Authentication credentials were not provided."


class ForcegatePermissionDenied(ForcegateRefused, exceptions.PermissionDenied):
    message = "The credential does not grant the scope this endpoint needs."


class ForcegateThrottled(ForcegateRefused, exceptions.Throttled):
    message = "Request was throttled."


def refused_exception(refused: Refusal) -> ForcegateRefused:
    """The DRF exception for ``refused``, by its status (401, 403, 429, or another)."""
    if refused.status == 401:
        if isinstance(refused.error, NoCredentials):
            return ForcegateNotAuthenticated(refused)
        return ForcegateAuthenticationFailed(refused)
    if refused.status == 403:
        return ForcegatePermissionDenied(refused)
    if refused.status == 429:
        return ForcegateThrottled(refused)
    return ForcegateRefused(refused)


# --- authentication and permissions -----------------------------------------------------------------------


class ForcegateAuthentication(BaseAuthentication):
    """A bearer access token, a direct Apex JWT or a Canvas session, verified by the Django integration's verifier.

    Returns None when the request carries none (DRF then tries the next class, or leaves the request
    anonymous), ``(ForcegateUser, Identity)`` when it verifies, and raises :class:`ForcegateRefused`
    when it is refused (401 ``invalid_token``, 400 for a malformed header, 429, 503 …).
    """

    def authenticate(self, request: Request) -> tuple[ForcegateUser, Identity] | None:
        django_request: HttpRequest = request._request
        known = identity_or_unverified(django_request)
        if known is not NOT_VERIFIED:  # verified already (a view decorator, a second authenticate): not twice
            return None if known is None else (ForcegateUser(known), known)
        authorization, session = read_credentials(django_request)
        if authorization is None and session is None:
            return None
        try:
            identity = get_verifier().verify(
                authorization, session=session, client=client_address(django_request), endpoint=django_request.path
            )
        except Refusal as refused:
            setattr(django_request, _CHALLENGE_ATTRIBUTE, refused.challenge)
            raise refused_exception(refused) from refused
        set_identity(django_request, identity)
        return ForcegateUser(identity), identity

    def authenticate_header(self, request: Request) -> str:
        """The RFC 6750 challenge of this request's refusal (``error="invalid_token"`` …), plain Bearer without one."""
        challenge = getattr(request._request, _CHALLENGE_ATTRIBUTE, None)
        return challenge if isinstance(challenge, str) else CHALLENGE


class HasForcegateScopes(BasePermission):
    """A forcegate identity (``request.auth``) granting ``required_scopes`` and the view's ``forcegate_scopes``.

    Without a forcegate identity: :class:`ForcegateNotAuthenticated` (401, ``Bearer realm="forcegate"``);
    with a scope missing: :class:`ForcegatePermissionDenied` (403 ``insufficient_scope``, with its
    challenge). It raises rather than answer False, so that DRF sends the challenge: use it on its own,
    or after other permissions, not inside ``|``.
    """

    required_scopes: tuple[str, ...] = ()

    def has_permission(self, request: Request, view: Any) -> bool:
        scopes = (*self.required_scopes, *getattr(view, "forcegate_scopes", ()))
        identity = request.auth
        if not isinstance(identity, Identity):
            raise refused_exception(refusal_of(NoCredentials("no forcegate credential"), development=development()))
        if not identity.has_scopes(scopes):
            missing = " ".join(sorted(set(scopes) - identity.scopes))
            raise refused_exception(
                refusal_of(InsufficientScope(f"missing scope(s): {missing}"), development=development())
            )
        return True


def ForcegateScopes(*scopes: str) -> type[HasForcegateScopes]:
    """A :class:`HasForcegateScopes` requiring ``scopes``: ``permission_classes = [ForcegateScopes("orders:read")]``."""
    if any(not isinstance(scope, str) or not scope for scope in scopes):
        raise TypeError("ForcegateScopes takes scope names: ForcegateScopes('orders:read', 'orders:write')")
    return type(f"ForcegateScopes({' '.join(scopes)})", (HasForcegateScopes,), {"required_scopes": tuple(scopes)})


def identity_of(request: Request) -> Identity:
    """``request.auth``, typed as the :class:`~forcegate.core.Identity`; else :class:`ForcegateNotAuthenticated`."""
    identity = request.auth
    if not isinstance(identity, Identity):
        raise refused_exception(refusal_of(NoCredentials("no forcegate credential"), development=development()))
    return identity


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, plus forcegate's ``Cache-Control: no-store`` and ``Pragma`` on its refusals."""
    # Imported here: rest_framework.views reads the project's settings when it is imported.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ForcegateRefused):
        for name, value in exc.refusal.headers:
            if name not in ("www-authenticate", "retry-after"):  # DRF wrote these from the exception
                response[name] = value
    return response
