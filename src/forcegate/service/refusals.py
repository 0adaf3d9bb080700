"""What a refusal answers at each HTTP edge, without any web framework: status, OAuth error, body, challenge.

One definition for every adapter: :mod:`forcegate.server.responses` writes it as an ASGI or Starlette
response (and the Canvas edge as an HTML page), :mod:`forcegate.resource` hands it to Django, DRF or
Flask adapters inside its :class:`~forcegate.resource.Refusal`.

* ``token`` — RFC 6749 §5.2: every grant error is 400 ``invalid_grant``, a malformed request 400 with
  its own OAuth error;
* ``resource`` — RFC 6750 §3: 401 ``invalid_token`` with a ``WWW-Authenticate`` challenge (without an
  error code when no credential was sent at all, §3.1), 400 ``invalid_request``, 403
  ``insufficient_scope``;
* ``admin`` — the error's own status;
* ``canvas`` — the error's status, a credential's refusal 401 (the page is the adapter's).

Everywhere: 429 ``slow_down`` (with ``Retry-After``), 503 ``temporarily_unavailable``, 500
``server_error``. The JSON body is ``error``, and ``error_description`` and ``code`` only when they say
nothing about trust or infrastructure — the request's own shape, a rate limit — or to the admin, or in
development mode (decision 0005).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from forcegate.errors import (
    AuthenticationRequired,
    ConfigurationError,
    ForcegateError,
    InsufficientScope,
    KeyMaterialError,
    NoCredentials,
    RateLimited,
    RegistryError,
    RequestError,
    SalesforceUnavailable,
    StoreUnavailable,
    TokenError,
)

__all__ = ["CHALLENGE", "NO_STORE", "Edge", "RefusalParts", "refusal_parts", "status_and_error"]

#: The RFC 6750 §3 challenge; a refused credential adds ``error="…"``.
CHALLENGE = 'Bearer realm="forcegate"'
#: RFC 6749 §5.1 / RFC 6750 §3: refusals (and anything token-bearing) are not to be cached.
NO_STORE: tuple[tuple[str, str], ...] = (("cache-control", "no-store"), ("pragma", "no-cache"))


class Edge(enum.Enum):
    TOKEN = "token"  # noqa: S105 - the token endpoint, not a secret
    RESOURCE = "resource"
    ADMIN = "admin"
    CANVAS = "canvas"
    ENROLL = "enroll"  # the browser pages of /enroll
    ENROLL_CANVAS = "enroll-canvas"  # those of /enroll/canvas, inside Salesforce's Canvas iframe


#: Errors that describe the request itself (or the caller's own rate), never whether a credential is
#: trusted. An outage's reason is not among them: it names servers and addresses, for the log only.
_HARMLESS = (RequestError, RateLimited)


def status_and_error(exc: ForcegateError, edge: Edge) -> tuple[int, str]:
    """The HTTP status and the OAuth ``error`` of ``exc`` at ``edge``."""
    if isinstance(exc, StoreUnavailable | SalesforceUnavailable):
        return 503, "temporarily_unavailable"
    if isinstance(exc, ConfigurationError):
        return 500, "server_error"
    if isinstance(exc, RateLimited):
        return 429, "slow_down"
    if edge is Edge.TOKEN:
        if isinstance(exc, TokenError):
            return 400, "invalid_grant"
        return (400 if isinstance(exc, RequestError) else exc.status), exc.oauth_error
    if edge is Edge.CANVAS and isinstance(exc, TokenError):
        return 401, exc.oauth_error  # a session whose org was disabled since: no longer signed in
    if edge is Edge.RESOURCE:
        if isinstance(exc, InsufficientScope):
            return 403, "insufficient_scope"
        if isinstance(exc, RequestError):
            return 400, "invalid_request"
        if isinstance(exc, TokenError | AuthenticationRequired):
            return 401, "invalid_token"
    return exc.status, exc.oauth_error


@dataclass(frozen=True, slots=True)
class RefusalParts:
    """A refusal, framework-neutral. ``challenge``: the ``WWW-Authenticate`` value, if one is due;
    ``retry_after``: seconds, for a rate limit. ``body`` is the JSON object to answer with."""

    status: int
    error: str
    body: dict[str, str]
    challenge: str | None
    retry_after: int | None

    def headers(self) -> list[tuple[str, str]]:
        """``Cache-Control``/``Pragma``, then ``WWW-Authenticate`` and ``Retry-After`` when due (no content type)."""
        headers = list(NO_STORE)
        if self.challenge is not None:
            headers.append(("www-authenticate", self.challenge))
        if self.retry_after is not None:
            headers.append(("retry-after", str(self.retry_after)))  # RFC 9110 §10.2.3, seconds
        return headers


def refusal_parts(exc: ForcegateError, edge: Edge, *, development: bool) -> RefusalParts:
    """Status, OAuth error, JSON body and challenge of the refusal ``exc`` at ``edge`` (module docstring)."""
    status, error = status_and_error(exc, edge)
    body = {"error": error}
    # A certificate the org's own trusted key vouched for (a rotation) that the registry's policy
    # refuses: the org may learn why (weak_key, certificate_shared, ...); it holds the key anyway.
    vouched = edge is Edge.TOKEN and exc.verified and isinstance(exc, RegistryError | KeyMaterialError)
    if development or edge is Edge.ADMIN or isinstance(exc, _HARMLESS) or vouched:
        body["error_description"] = exc.reason
        body["code"] = exc.code
    challenge = None
    if edge is not Edge.CANVAS and (status == 401 or (edge is Edge.RESOURCE and status < 500)):
        # RFC 6750 §3: a protected resource says why in WWW-Authenticate; a request without any
        # credential gets a challenge without an error code (§3.1).
        challenge = CHALLENGE if isinstance(exc, NoCredentials) else f'{CHALLENGE}, error="{error}"'
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
    return RefusalParts(status, error, body, challenge, retry_after)
