"""Reading ``application/x-www-form-urlencoded`` bodies strictly and cheaply (no multipart parser)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from forcegate.errors import ForcegateError, RequestError
from forcegate.server._asgi import read_body

__all__ = ["read_form", "single"]

MAX_FIELDS = 20


async def read_form(
    request: Request, *, limit: int, too_large: type[ForcegateError] = RequestError
) -> dict[str, list[str]]:
    """The form fields of an urlencoded POST body (each field's values in order)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        raise RequestError("the body must be application/x-www-form-urlencoded")
    body = await read_body(request.receive, limit=limit, too_large=too_large)
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS, errors="strict"
        )
    except UnicodeDecodeError:
        raise RequestError("the form body is not UTF-8") from None
    except ValueError as exc:
        raise RequestError(f"malformed form body: {exc}") from None
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def single(fields: dict[str, list[str]], name: str, *, required: bool = True) -> str | None:
    """The one value of ``name``; a repeated parameter is an error (RFC 6749 §3.1)."""
    values = fields.get(name)
    if not values or values == [""]:
        if required:
            raise RequestError(f"missing parameter {name!r}")
        return None
    if len(values) > 1:
        raise RequestError(f"parameter {name!r} is repeated")
    return values[0]
