"""The request layer: what the endpoints read from an HTTP request, parsed one way for both stacks.

The raw-ASGI hot endpoints and the Starlette routes (which pass ``request.scope`` and
``request.receive``) read headers, credentials, the client's address, bodies and forms only through
these functions, so the same input gets the same answer at every endpoint.
"""

from __future__ import annotations

from forcegate.core.form import DEFAULT_MAX_FIELDS, parse_form
from forcegate.errors import ForcegateError, RequestError
from forcegate.server._asgi import Receive, Scope
from forcegate.service.credentials import Credentials, session_from_cookie_header

__all__ = ["FORM", "client_address", "credentials", "header", "local_path", "read_body", "read_form"]

FORM = b"application/x-www-form-urlencoded"


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (``name`` lower-case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def credentials(scope: Scope) -> Credentials:
    """The first ``Authorization`` header and the session cookie, as sent (checked by the service)."""
    authorization: bytes | None = None
    cookie: bytes | None = None
    for key, value in scope["headers"]:  # one pass: this runs on every API call
        if key == b"authorization":
            if authorization is None:
                authorization = value
        elif key == b"cookie" and cookie is None:
            cookie = value
    return Credentials(
        authorization=None if authorization is None else bytes(authorization).decode("latin-1"),
        session=None if cookie is None else session_from_cookie_header(bytes(cookie).decode("latin-1")),
    )


def client_address(scope: Scope) -> str | None:
    """The address of the peer that sent the request."""
    client = scope.get("client")
    return str(client[0]) if client else None


def local_path(scope: Scope) -> str:
    """The request's path within this application: without the prefix it is mounted under (ASGI
    ``root_path``; servers and Starlette's ``Mount`` keep the prefix in ``path``)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def read_body(receive: Receive, *, limit: int, too_large: type[ForcegateError] = RequestError) -> bytes:
    """The whole request body; more than ``limit`` bytes raises ``too_large``, and nothing more is read."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError("client disconnected before sending the body")
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise too_large(f"request body exceeds {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_form(
    scope: Scope,
    receive: Receive,
    *,
    limit: int,
    too_large: type[ForcegateError] = RequestError,
    max_fields: int = DEFAULT_MAX_FIELDS,
) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` POST body (:func:`forcegate.core.form.parse_form`).

    Another content type, a body over ``limit`` bytes (``too_large``), or a malformed form is refused.
    """
    content_type = header(scope, b"content-type") or b""
    if content_type.split(b";", 1)[0].strip().lower() != FORM:
        raise RequestError("the body must be application/x-www-form-urlencoded (RFC 6749 §4.1.3)")
    return parse_form(await read_body(receive, limit=limit, too_large=too_large), max_fields=max_fields)
