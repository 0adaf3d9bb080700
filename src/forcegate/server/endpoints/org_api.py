"""``GET /api/v1/certificates``: an org's own certificates and how long each has left (the expiry watch);
``POST /api/v1/certificates/{sha256}/retire``: the org confirms its rotation, ending an overlap early.

For the package's setup page ("your certificate expires in 12 days"): the caller is the org itself,
with its access token or an Apex JWT sent directly (the same verification as ``/api/v1/me``, audited
by the service); a Canvas session is not taken here. The org sees its own certificates only, never
another org's: public material, but the registry's content is the ISV's.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forcegate.registry import Actor
from forcegate.registry.views import certificate_view, iso
from forcegate.server.request import client_address, credentials
from forcegate.server.runtime import runtime

__all__ = ["CERTIFICATES_ENDPOINT", "RETIRE_ENDPOINT", "certificates", "retire"]

CERTIFICATES_ENDPOINT = "/api/v1/certificates"
RETIRE_ENDPOINT = CERTIFICATES_ENDPOINT + "/{fingerprint}/retire"


async def certificates(request: Request) -> Response:
    found = runtime(request.scope)
    given = credentials(request.scope)._replace(session=None)  # the org itself, not a user's browser
    identity = await found.service.authorize(
        given, endpoint=CERTIFICATES_ENDPOINT, client=client_address(request.scope)
    )
    now = found.service.clock.now()
    records = [
        record
        for record in await found.registry.list_certificates(identity.org_id, include_retired=False)
        if record.trusted_at(now)
    ]
    body = {
        "org_id": identity.org_id,
        "checked_at": iso(now),
        "certificates": [
            {**certificate_view(record), "days_to_expiry": int((record.not_after - now) // 86400)} for record in records
        ],
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def retire(request: Request) -> Response:
    """Retire now, at the org's word, one of its certificates whose rotation overlap is running."""
    found = runtime(request.scope)
    given = credentials(request.scope)._replace(session=None)
    client = client_address(request.scope)
    identity = await found.service.authorize(given, endpoint=RETIRE_ENDPOINT, client=client)
    actor = Actor(entry=RETIRE_ENDPOINT, credential="org", client=client)
    record = await found.registry.end_overlap(identity.org_id, request.path_params["fingerprint"], actor=actor)
    return JSONResponse(certificate_view(record), headers={"cache-control": "no-store"})
