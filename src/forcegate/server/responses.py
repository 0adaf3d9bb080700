"""The one place a :class:`~forcegate.errors.ForcegateError` becomes an HTTP response.

Endpoints raise; the application renders by the edge the request arrived at:

* ``token`` (``/oauth2/token``) — RFC 6749 §5.2: every grant error is 400 ``invalid_grant``, a
  malformed request 400 with its own OAuth error;
* ``resource`` (``/api/v1/me``, introspection, revocation, the embedded dependency) — RFC 6750 §3: 401
  ``invalid_token`` with a ``WWW-Authenticate`` challenge (without an error code when no credential
  was sent at all), 400 ``invalid_request``, 403 ``insufficient_scope``;
* ``admin`` (``/admin/api/v1``) — the error's own status (400, 401, 404, 409, 413);
* ``canvas`` (``/canvas``, the landing page) — an HTML page, for a browser in Salesforce's iframe;
* ``enroll`` (``/enroll`` pages) — an HTML page, never framed; ``enroll-canvas`` (``/enroll/canvas``)
  the same page, framed by Salesforce's pages only.

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

from dataclasses import dataclass

import orjson
from starlette.responses import Response

from forcegate.errors import (
    AuthenticationRequired,
    ForcegateError,
    KeyMaterialError,
    RateLimited,
    RegistryError,
    RequestError,
    TokenError,
)
from forcegate.server._asgi import JSON_NO_STORE, Send, send_bytes
from forcegate.server.pages import STYLE_HASH, error_page, page_headers
from forcegate.service.refusals import Edge, refusal_parts, status_and_error

__all__ = ["Edge", "RenderedError", "edge_of", "error_response", "render_error", "send_error"]


def edge_of(path: str) -> Edge:
    """The edge of a path within the application (without a mount prefix)."""
    if path.startswith("/admin/"):
        return Edge.ADMIN
    if path == "/canvas" or path.startswith("/canvas/"):
        return Edge.CANVAS
    if path in ("/oauth2/token", "/enroll/proof", "/enroll/rotate"):
        return Edge.TOKEN  # a proof of possession or a rotation is an assertion, refused as a grant is
    if path == "/enroll/canvas" or path.startswith("/enroll/canvas/"):
        return Edge.ENROLL_CANVAS  # its pages are framed by Salesforce: so are its refusals
    if path == "/enroll" or path.startswith("/enroll/"):
        return Edge.ENROLL
    return Edge.RESOURCE


@dataclass(frozen=True, slots=True)
class RenderedError:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]


def render_error(
    exc: ForcegateError, edge: Edge, *, development: bool, instance_domains: tuple[str, ...] = ()
) -> RenderedError:
    """Status, body and headers of the refusal ``exc`` at ``edge`` (see the module docstring); the
    status, body and challenge are :func:`forcegate.service.refusals.refusal_parts`', shared with
    :mod:`forcegate.resource`."""
    if edge is Edge.CANVAS:
        status, _ = status_and_error(exc, edge)
        return _canvas_page(exc, status, development=development, instance_domains=instance_domains)
    if edge is Edge.ENROLL or edge is Edge.ENROLL_CANVAS:
        status, _ = status_and_error(exc, edge)
        framed = instance_domains if edge is Edge.ENROLL_CANVAS else None
        return _enroll_page(exc, status, development=development, framed_by=framed)
    parts = refusal_parts(exc, edge, development=development)
    headers = list(JSON_NO_STORE)
    if parts.challenge is not None:
        headers.append((b"www-authenticate", parts.challenge.encode()))
    if parts.retry_after is not None:
        headers.append((b"retry-after", str(parts.retry_after).encode()))  # RFC 9110 §10.2.3, seconds
    return RenderedError(parts.status, orjson.dumps(parts.body), headers)


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


def _enroll_page(
    exc: ForcegateError, status: int, *, development: bool, framed_by: tuple[str, ...] | None = None
) -> RenderedError:
    """The subscriber admin is told what is wrong with what they sent or who they are (their own
    input: the certificate, their permissions, the sign-in); an outage or a fault stays in the log.
    ``framed_by``: the ``canvas_instance_domains`` of a page shown in Salesforce's Canvas iframe
    (``/enroll/canvas``), which Salesforce's pages may frame; None: never framed."""
    again = "Start again from the enrollment page." if framed_by is None else "Open the app again from Salesforce."
    if status >= 500:
        title, message = "Unavailable", "Try again shortly."
    elif isinstance(exc, RegistryError | KeyMaterialError | RequestError | RateLimited):
        title, message = "Enrollment refused", exc.reason
    else:
        title, message = "Enrollment refused", again
    if development and status >= 500:
        message += f" ({exc.code}: {exc.reason})"
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    if framed_by is not None:
        headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in page_headers(framed_by)]
    else:
        headers += [
            (
                b"content-security-policy",
                b"default-src 'none'; style-src 'sha256-" + STYLE_HASH.encode() + b"'; frame-ancestors 'none'",
            )
        ]
        headers += [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"),
        ]
    if isinstance(exc, RateLimited):
        headers.append((b"retry-after", str(exc.retry_after).encode()))
    return RenderedError(status, error_page(title, f"{message} [{exc.code}]").encode("utf-8"), headers)


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
