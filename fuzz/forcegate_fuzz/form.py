"""Fuzz target ``form``: the one form parser and the token request read from it.

The input is a request body as the token, Canvas, introspection and revocation endpoints receive
it. It goes through :func:`~forcegate.core.form.parse_form` (with the default field bound, as the
Canvas, introspection and revocation endpoints call it), :func:`~forcegate.core.grant.parse_token_request`
(the token endpoint), and, when the form parsed, :func:`~forcegate.core.grant.token_request` and
:func:`~forcegate.core.form.required` on its fields.

Invariants: each call returns or raises a ForcegateError; and a form ``parse_form`` accepts reads
exactly as ``urllib.parse.parse_qsl(keep_blank_values=True, strict_parsing=True, errors="strict")``
reads it, which is what ``parse_form``'s own documentation promises.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl

from forcegate.core.form import parse_form, required
from forcegate.core.grant import JWT_BEARER_GRANT_TYPE, parse_token_request, token_request
from forcegate_fuzz._support import Finding, check, refused

__all__ = ["test_one_input"]


def test_one_input(data: bytes) -> None:
    fields = refused(lambda: parse_form(data))
    request = refused(lambda: parse_token_request(data))
    if fields is None:
        return
    _same_as_parse_qsl(data, fields)
    from_fields = refused(lambda: token_request(fields))
    if request is not None:
        # parse_token_request is parse_form (with MAX_FIELDS, the same bound) then token_request.
        check(from_fields == request, "parse_token_request and token_request(parse_form()) disagree")
        check(fields.get("grant_type") == JWT_BEARER_GRANT_TYPE, "a token request without the JWT-bearer grant")
        check(bool(request.assertion) and request.scope != "", "an empty assertion or scope was kept")
        repr(request)
    for name in ("grant_type", "assertion", "scope", "signed_request", "token", "token_type_hint"):
        refused(functools.partial(required, fields, name))


def _same_as_parse_qsl(data: bytes, fields: dict[str, str]) -> None:
    try:
        pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict")
    except ValueError as exc:  # UnicodeDecodeError included
        raise Finding(f"parse_qsl refuses a form parse_form accepts: {exc}") from None
    check(len(pairs) == len(fields), f"parse_qsl reads {len(pairs)} parameters, parse_form {len(fields)}")
    check(dict(pairs) == fields, "parse_qsl and parse_form read different names or values")
