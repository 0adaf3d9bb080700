"""``application/x-www-form-urlencoded`` bodies, parsed strictly and cheaply: the one form parser.

The token endpoint, introspection, revocation and the Canvas endpoint all read their forms with
:func:`parse_form`, so the same body gets the same answer everywhere: UTF-8 only, every parameter
``name=value``, none repeated (RFC 6749 §3.1 and §3.2: request and response parameters MUST NOT be
included more than once; a Canvas POST carries one ``signed_request``), at most ``max_fields``.
It is a few microseconds for Apex's two-parameter token request: no multipart parser, no
general-purpose query-string machinery.
"""

from __future__ import annotations

from urllib.parse import unquote

from forcegate.errors import RequestError

__all__ = ["DEFAULT_MAX_FIELDS", "parse_form", "required"]

DEFAULT_MAX_FIELDS = 16
"""Most parameters in one form (Apex sends two), bounding the parsing work a body can cause."""

_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# The grant type arrives percent-encoded (Apex writes %3A); decoding it costs more than the rest of
# the parse, so its usual spellings are looked up instead.
_KNOWN_VALUES = {
    _JWT_BEARER: _JWT_BEARER,
    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer": _JWT_BEARER,
    "urn%3aietf%3aparams%3aoauth%3agrant-type%3ajwt-bearer": _JWT_BEARER,
}


def _decode(text: str) -> str:
    """``application/x-www-form-urlencoded`` decoding of one name or value (WHATWG URL §5.1)."""
    known = _KNOWN_VALUES.get(text)
    if known is not None:
        return known
    if "+" in text:
        text = text.replace("+", " ")
    if "%" in text:
        # errors="strict": a percent-encoded byte sequence that is not UTF-8 is refused, not replaced.
        text = unquote(text, errors="strict")
    return text


def _parse_fields(text: str, max_fields: int) -> dict[str, str]:
    """Name -> value, as ``parse_qsl(text, keep_blank_values=True, strict_parsing=True)`` would
    read them, refusing a repeated name. Raises ``ValueError`` (``UnicodeDecodeError`` for bad
    percent-encoded UTF-8)."""
    fields: dict[str, str] = {}
    if not text:
        return fields
    parts = text.split("&")
    if len(parts) > max_fields:
        raise ValueError(f"more than {max_fields} parameters")
    for part in parts:
        raw_name, equals, raw_value = part.partition("=")
        if not equals:
            raise ValueError("a parameter without '='")
        name = _decode(raw_name)
        if name in fields:
            raise ValueError(f"parameter {name[:40]!r} is repeated")
        fields[name] = _decode(raw_value)
    return fields


def parse_form(body: bytes, *, max_fields: int = DEFAULT_MAX_FIELDS) -> dict[str, str]:
    """Name -> value of an urlencoded ``body``; :class:`~forcegate.errors.RequestError` if it is not
    UTF-8, malformed, has a repeated parameter or more than ``max_fields``."""
    try:
        return _parse_fields(body.decode("utf-8"), max_fields)
    except UnicodeDecodeError:
        raise RequestError("the form body is not UTF-8") from None
    except ValueError as exc:
        raise RequestError(f"malformed form body: {exc}") from None


def required(fields: dict[str, str], name: str) -> str:
    """The value of ``name``; :class:`~forcegate.errors.RequestError` when it is absent or empty
    (RFC 6749 §3.1: a parameter sent without a value is treated as omitted)."""
    value = fields.get(name)
    if not value:
        raise RequestError(f"missing parameter {name!r}")
    return value
