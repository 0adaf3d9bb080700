"""The request layer: what the endpoints read from an HTTP request, parsed one way for both stacks.

The raw-ASGI hot endpoints and the Starlette routes (which pass ``request.scope`` and
``request.receive``) read headers, credentials, the client's address, bodies and forms only through
these functions, so the same input gets the same answer at every endpoint.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncGenerator

from forcegate.core.form import DEFAULT_MAX_FIELDS, parse_form
from forcegate.errors import ForcegateError, RequestError
from forcegate.server._asgi import Receive, Scope
from forcegate.server.runtime import SCOPE_KEY, Runtime
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
    """The client's address: the peer's, or — only when the peer is one of ``trusted_proxies`` — the
    nearest address in ``X-Forwarded-For`` (else ``Forwarded``) that is not a trusted proxy itself.

    Read right to left: each trusted proxy appends the address it received from, so the rightmost
    untrusted entry is the last one no attacker could have written. Without a trusted proxy the
    headers are ignored, so nobody can forge their way around a rate limit or into another address's
    audit trail.
    """
    client = scope.get("client")
    peer = str(client[0]) if client else None
    found = scope.get(SCOPE_KEY)
    proxies = found.proxies if isinstance(found, Runtime) else ()
    if not proxies or peer is None or not _within(peer, proxies):
        return peer
    nearest = peer
    for entry in reversed(_forwarded_for(scope)):
        if not _within(entry, proxies):
            # Only an address is keyed, logged and audited: for "unknown", an obfuscated id or junk,
            # the client is the proxy that saw it (bounded, and not the sender's to choose).
            address = _address(entry)
            return nearest if address is None else address
        nearest = entry
    return nearest


def _address(text: str) -> str | None:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


def _within(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _forwarded_for(scope: Scope) -> list[str]:
    """The entries of ``X-Forwarded-For`` (else RFC 7239 ``Forwarded: for=``), in order, ports and
    brackets removed; an entry that is not an address (``unknown``, an obfuscated id) is kept as is."""
    xff = header(scope, b"x-forwarded-for")
    if xff is not None:
        return [_strip_port(entry.strip()) for entry in xff.decode("latin-1").split(",") if entry.strip()]
    forwarded = header(scope, b"forwarded")
    if forwarded is None:
        return []
    addresses: list[str] = []
    for element in forwarded.decode("latin-1").split(","):
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.lower() == "for":
                addresses.append(_strip_port(value.strip().strip('"')))
    return addresses


def _strip_port(node: str) -> str:
    if node.startswith("["):  # "[2001:db8::1]:4711"
        return node[1 : node.find("]")] if "]" in node else node
    if node.count(":") == 1:  # "192.0.2.60:8080"
        return node.partition(":")[0]
    return node


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


MULTIPART = b"multipart/form-data"


async def read_upload_form(
    scope: Scope, receive: Receive, *, limit: int, file_field: str, max_fields: int = 8
) -> tuple[dict[str, str], bytes | None]:
    """The fields of a form that may carry one file: ``multipart/form-data`` (a browser's file input)
    or ``application/x-www-form-urlencoded`` (a pasted value); the file's bytes, when one came.

    The body is read whole under ``limit`` first, as for :func:`read_form`, and only then parsed
    (Starlette's parser, on python-multipart): at most one file, ``max_fields`` fields.
    """
    content_type = header(scope, b"content-type") or b""
    if content_type.split(b";", 1)[0].strip().lower() != MULTIPART:
        return await read_form(scope, receive, limit=limit, max_fields=max_fields), None
    from starlette.datastructures import Headers, UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    body = await read_body(receive, limit=limit)

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    parser = MultiPartParser(
        Headers(raw=[(b"content-type", content_type)]), stream(), max_files=1, max_fields=max_fields,
        max_part_size=limit,
    )  # fmt: skip
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise RequestError(f"malformed multipart form: {exc.message}") from None
    try:
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        upload = form.get(file_field)
        data = await upload.read() if isinstance(upload, UploadFile) else None
    finally:
        await form.close()
    return fields, data or None
