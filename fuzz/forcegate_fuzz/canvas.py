"""Fuzz target ``canvas``: :class:`~forcegate.core.canvas.CanvasVerifier` and the envelope's typed views.

An attacker controls the whole ``signed_request`` form field, but without the consumer secret
reaches only the checks before the HMAC. The target knows the secrets, so it can also sign what
the fuzzer makes and reach the envelope parsing behind the signature (a compromised or buggy
signer, or a secret that leaked). The first byte of the input picks the mode:

* 0 — the rest is the ``signed_request`` as received: verified as bytes and as text;
* 1 — the rest is the envelope JSON: encoded as Salesforce does (standard base64, padded) and
  signed with the current secret;
* 2 — the rest is the payload *text* itself, signed as-is with the previous secret: reaches the
  lenient base64 decoding of the payload and the secret rotation path;
* 3 — the rest is the envelope JSON, encoded URL-safe without padding (the spelling the lenient
  decoder also accepts) and signed with the current secret.

Invariant: :meth:`CanvasVerifier.verify` returns or raises a ForcegateError; when it returns,
every typed view builds and reads without any exception (the module promises they "cannot
fail"), ids are canonical, and the secret that verified is the one that signed.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from forcegate.core.canvas import CanvasVerifier
from forcegate.core.canvas_request import CanvasRequest, FrozenJSONArray, FrozenJSONObject
from forcegate_fuzz._support import check, refused

__all__ = ["CURRENT_SECRET", "PREVIOUS_SECRET", "sign", "test_one_input"]

CURRENT_SECRET = "FUZZ0123456789CURRENTSECRET0123456789ABCDEF0123456789ABCDEF0123"  # noqa: S105  # fuzzing only
# Salesforce's older 19-digit secret format; fuzzing only, like the one above.
PREVIOUS_SECRET = "8203618327490917733"  # noqa: S105

# Stateless after construction: one verifier serves every input.
_VERIFIER = CanvasVerifier([CURRENT_SECRET, PREVIOUS_SECRET])


def sign(payload_text: bytes, secret: str) -> bytes:
    """``base64(HMAC-SHA256(secret, payload_text)).payload_text``, the Canvas signature over the text."""
    tag = hmac.digest(secret.encode("utf-8"), payload_text, "sha256")
    return base64.b64encode(tag) + b"." + payload_text


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        _verify(body, secret_index=None)
        _verify(body.decode("latin-1"), secret_index=None)  # the str path: every byte a character
    elif mode == 1:
        _verify(sign(base64.b64encode(body), CURRENT_SECRET), secret_index=0)
    elif mode == 2:
        _verify(sign(body, PREVIOUS_SECRET), secret_index=1)
    else:
        _verify(sign(base64.urlsafe_b64encode(body).rstrip(b"="), CURRENT_SECRET), secret_index=0)


def _verify(signed_request: str | bytes, *, secret_index: int | None) -> None:
    request = refused(lambda: _VERIFIER.verify(signed_request))
    if request is None:
        return
    if secret_index is not None:
        check(request.secret_index == secret_index, f"secret_index {request.secret_index}, signed with {secret_index}")
    _read_views(request)


def _read_views(request: CanvasRequest) -> None:
    """Read everything an application may read; none of it may raise."""
    check(len(request.user_id) == 18 and request.user_id.startswith("005"), f"user_id {request.user_id!r}")
    check(
        len(request.organization_id) == 18 and request.organization_id.startswith("00D"),
        f"organization_id {request.organization_id!r}",
    )
    check(request.issued_at is None or type(request.issued_at) is int, "issuedAt is not an integer")
    user = request.user
    check(user.user_id == request.user_id, "user.user_id differs from user_id")
    organization = request.organization
    check(organization.organization_id == request.organization_id, "organization id differs")
    client = request.client
    application = request.application
    check(all(type(option) is str for option in application.options), "application.options holds a non-string")
    links = request.links
    check(all(type(value) is str for value in links.values()), "links holds a non-string")
    environment = request.environment
    parameters = request.parameters
    check(parameters == environment.parameters, "parameters differs from environment.parameters")
    for view in (user, organization, client, application, environment, request):
        repr(view)  # what a log line does; the tokens must be hidden, and building it must not fail
    check("oauth_token" not in repr(client) and "refresh_token" not in repr(client), "repr(client) shows a token")
    check(client.oauth_token is None or "<redacted>" in repr(request.raw), "repr(raw) does not hide the session")
    for mapping in (parameters, environment.dimensions, environment.version, environment.record or {}, request.raw):
        _walk(mapping)
        if isinstance(mapping, FrozenJSONObject):
            check(mapping.to_dict() == mapping, "to_dict() differs from the view")


def _walk(root: Any) -> None:
    """Read a frozen JSON tree all the way down, as code rendering ``parameters`` would.

    With a stack, not recursion: the decoder accepts nesting close to the interpreter's recursion
    limit, and a RecursionError here would be the target's fault, not forcegate's.
    """
    pending = [root]
    while pending:
        value = pending.pop()
        if isinstance(value, Mapping):
            pending.extend(value[key] for key in value)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            pending.extend(value)
            if isinstance(value, FrozenJSONArray):
                check(value.to_list() == value, "to_list() differs from the view")
