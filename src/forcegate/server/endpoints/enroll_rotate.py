"""``POST /enroll/rotate``: the org rotates its certificate, the trusted one vouching for the new one.

Form fields ``assertion`` (signed with the currently trusted certificate) and ``new_key_assertion``
(the same claims signed with the new certificate); answered in JSON. The checks and the write are the
registry's (:mod:`forcegate.registry.rotation`); a refusal is rendered as the token endpoint's are
(400 ``invalid_grant`` for a credential that does not hold, the registry's code otherwise).
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forcegate.errors import RequestError
from forcegate.registry import Actor
from forcegate.registry.rotation import ROTATE_PATH, claimed_org
from forcegate.registry.views import certificate_view, iso
from forcegate.server.request import client_address, read_form
from forcegate.server.runtime import runtime
from forcegate.service.failure_bound import bounded

__all__ = ["ROUTES", "rotate"]

# Two assertions, each carrying a certificate of 1 to 2 KB (base64): far below this.
_MAX_ROTATION_FORM = 64 * 1024


async def rotate(request: Request) -> Response:
    found = runtime(request.scope)
    client = client_address(request.scope)
    # Refusals are bounded per (client, claimed org) like every entry's (decision 0013).
    async with bounded(found.service.failures, client=client) as claimed:
        form = await read_form(request.scope, request.receive, limit=_MAX_ROTATION_FORM)
        assertion, new_key_assertion = form.get("assertion"), form.get("new_key_assertion")
        if not assertion or not new_key_assertion:
            raise RequestError("a rotation carries two assertions: assertion and new_key_assertion")
        claimed.resolve = functools.partial(claimed_org, assertion)  # only read on a refusal
        actor = Actor(entry=ROTATE_PATH, credential="certificate-rotation", client=client)
        rotation = await found.registry.rotations.rotate(
            assertion, new_key_assertion, actor=actor, audit=found.service.audit.write
        )
    enrollment = rotation.enrollment
    body = {
        "org_id": enrollment.org_id,
        "enrollment_id": enrollment.enrollment_id,
        "state": enrollment.state,
        "certificate": None if rotation.certificate is None else certificate_view(rotation.certificate),
        "retiring": None
        if rotation.retire_at is None
        else {"sha256_fingerprint": rotation.replaced.sha256_fingerprint, "retire_at": iso(rotation.retire_at)},
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})


#: (path, handler, method)
ROUTES = ((ROTATE_PATH, rotate, "POST"),)
