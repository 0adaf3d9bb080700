"""The one place a :class:`~forcegate.errors.ForcegateError` becomes an HTTP response.

Endpoints raise; the application renders by the edge the request arrived at:

* ``token`` (``/oauth2/token``) — RFC 6749 §5.2: every grant error is 400 ``invalid_grant``, a
  malformed request 400 with its own OAuth error;
* ``resource`` (``/api/v1/me``, introspection, revocation, the embedded dependency) — RFC 6750 §3: 401
  ``invalid_token`` with a ``WWW-Authenticate`` challenge (without an error code when no credential
  was sent at all), 400 ``invalid_request``, 403 ``insufficient_scope``;
* ``admin`` (``/admin/api/v1``) — the error's own status (400, 401, 404, 409, 413);
* ``canvas`` (``/canvas``, the landing page) — an HTML page, for a browser in Salesforce's iframe.

Everywhere: 429 ``slow_down`` with ``Retry-After`` for a rate limit, 503 ``temporarily_unavailable``
when a store (or Salesforce) is down, 500 ``server_error`` for a configuration fault, and
``Cache-Control: no-store``. JSON bodies have one shape: ``error`` (the OAuth error),
``error_description`` (why, for people) and ``code`` (forcegate's stable code of the failed check).
Responses stay terse to callers who have not authenticated (decision 0005): ``code`` and
``error_description`` are given only when they say nothing about trust or infrastructure — the
request's own shape, a rate limit — or to the admin, or in development mode; the audit log and the
server log always have them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from forcegate.errors import (
    AuthenticationRequired,
    ConfigurationError,
    ForcegateError,
    InsufficientScope,
    NoCredentials,
    RateLimited,
    RequestError,
    SalesforceUnavailable,
    StoreUnavailable,
    TokenError,
)
from forcegate.server._asgi import JSON_NO_STORE, Send, send_bytes
from forcegate.server.pages import error_page, page_headers

__all__ = ["Edge", "RenderedError", "edge_of", "error_response", "render_error", "send_error"]

CHALLENGE = 'Bearer realm="forcegate"'


class Edge(enum.Enum):
    TOKEN = "token"  # noqa: S105 - the token endpoint, not a secret
    RESOURCE = "resource"
    ADMIN = "admin"
    CANVAS = "canvas"


def edge_of(path: str) -> Edge:
    """The edge of a path within the application (without a mount prefix)."""
    if path.startswith("/admin/"):
        return Edge.ADMIN
    if path == "/canvas" or path.startswith("/canvas/"):
        return Edge.CANVAS
    if path == "/oauth2/token":
        return Edge.TOKEN
    return Edge.RESOURCE


@dataclass(frozen=True, slots=True)
class RenderedError:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]


#: Errors that describe the request itself (or the caller's own rate), never whether a credential is
#: trusted. An outage's reason is not among them: it names servers and addresses, for the log only.
_HARMLESS = (RequestError, RateLimited)


def _status_and_error(exc: ForcegateError, edge: Edge) -> tuple[int, str]:
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


def render_error(
    exc: ForcegateError, edge: Edge, *, development: bool, instance_domains: tuple[str, ...] = ()
) -> RenderedError:
    """Status, body and headers of the refusal ``exc`` at ``edge`` (see the module docstring)."""
    status, error = _status_and_error(exc, edge)
    if edge is Edge.CANVAS:
        return _canvas_page(exc, status, development=development, instance_domains=instance_domains)
    disclose = development or edge is Edge.ADMIN or isinstance(exc, _HARMLESS)
    body: dict[str, Any] = {"error": error}
    if disclose:
        body["error_description"] = exc.reason
        body["code"] = exc.code
    headers = list(JSON_NO_STORE)
    challenged = status == 401 or (edge is Edge.RESOURCE and status < 500)
    if challenged:
        # RFC 6750 §3: a protected resource says why in WWW-Authenticate; a request without any
        # credential gets a challenge without an error code (§3.1).
        challenge = CHALLENGE if isinstance(exc, NoCredentials) else f'{CHALLENGE}, error="{error}"'
        headers.append((b"www-authenticate", challenge.encode()))
    if isinstance(exc, RateLimited):
        headers.append((b"retry-after", str(exc.retry_after).encode()))  # RFC 9110 §10.2.3, seconds
    return RenderedError(status, orjson.dumps(body), headers)


def _canvas_page(
    exc: ForcegateError, status: int, *, development: bool, instance_domains: tuple[str, ...]
) -> RenderedError:
    if status == 503:
        title, message = "Unavailable", "Try again shortly."
    elif isinstance(exc, AuthenticationRequired | TokenError):
        title, message = "Not signed in", "Open this app from Salesforce: there is no Canvas session here."
    else:
        title, message = "Canvas request refused", "The signed request could not be accepted."
    if development:
        message += f" ({exc.code}: {exc.reason})"
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in page_headers(instance_domains)]
    if isinstance(exc, RateLimited):
        headers.append((b"retry-after", str(exc.retry_after).encode()))
    return RenderedError(status, error_page(title, message).encode("utf-8"), headers)


async def send_error(
    send: Send, exc: ForcegateError, edge: Edge, *, development: bool, instance_domains: tuple[str, ...] = ()
) -> None:
    """Render ``exc`` onto a raw ASGI ``send``."""
    rendered = render_error(exc, edge, development=development, instance_domains=instance_domains)
    await send_bytes(send, rendered.status, rendered.body, rendered.headers)


def error_response(
    exc: ForcegateError, edge: Edge, *, development: bool, instance_domains: tuple[str, ...] = ()
) -> Response:
    """Render ``exc`` as a Starlette response."""
    rendered = render_error(exc, edge, development=development, instance_domains=instance_domains)
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in rendered.headers}
    media_type = headers.pop("content-type")
    return Response(rendered.body, status_code=rendered.status, headers=headers, media_type=media_type)
