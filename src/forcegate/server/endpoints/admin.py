"""The admin API under ``/admin/api/v1``: apps, orgs, certificates, enrollments, audit. Admin token required.

A thin adapter over :class:`~forcegate.registry.RegistryService`: each handler checks the admin
token, turns the JSON body into the registry's input model (:meth:`InputModel.from_json`), calls one
registry method and renders the result with :mod:`forcegate.registry.views`. Secrets go in (a
consumer secret when an app is added or rotated) and never come out.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forcegate.core import ids
from forcegate.errors import RequestError
from forcegate.registry import (
    Actor,
    AppChanges,
    AppInput,
    CertificateInput,
    CertificateStateInput,
    EnrollmentRejectionInput,
    OrgChanges,
    OrgInput,
    SecretInput,
)
from forcegate.registry.fields import MAX_JSON_INTEGER
from forcegate.registry.views import (
    app_details_view,
    audit_view,
    certificate_view,
    enrollment_view,
    iso,
    org_details_view,
    org_view,
)
from forcegate.server.request import client_address, credentials, local_path, read_body
from forcegate.server.runtime import Runtime, runtime
from forcegate.stores.enrollment_rows import ENROLLMENT_STATES

__all__ = ["DEFAULT_PAGE", "MAX_JSON", "MAX_PAGE", "PREFIX", "ROUTES"]

PREFIX = "/admin/api/v1"
MAX_JSON = 256 * 1024
# A listing (orgs, audit events) returns ``limit`` items: 100 unless asked, clamped to 1..1000.
DEFAULT_PAGE = 100
MAX_PAGE = 1000
_NO_STORE = {"cache-control": "no-store"}


async def _admin(request: Request) -> tuple[Runtime, Actor]:
    """The runtime, once the caller has proved to be the admin (a refusal is audited and raised)."""
    found = runtime(request.scope)
    client = client_address(request.scope)
    await found.service.require_admin(credentials(request.scope), endpoint=local_path(request.scope), client=client)
    return found, Actor(entry=local_path(request.scope), credential="admin", client=client)


async def _json_body(request: Request) -> Any:
    # Bounded while reading: request.body() would take any size into memory before a check.
    return _parse_json(await read_body(request.receive, limit=MAX_JSON))


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("the body is not valid JSON") from None


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def _page_size(request: Request) -> int:
    try:
        limit = int(request.query_params.get("limit", str(DEFAULT_PAGE)))
    except ValueError:
        raise RequestError("limit must be an integer") from None
    return max(1, min(limit, MAX_PAGE))


# --- apps --------------------------------------------------------------------------------------------


async def list_apps(request: Request) -> Response:
    found, _ = await _admin(request)
    return _json([app_details_view(details) for details in await found.registry.list_apps()])


async def add_app(request: Request) -> Response:
    found, _ = await _admin(request)
    details = await found.registry.add_app(AppInput.from_json(await _json_body(request)))
    return _json(app_details_view(details), 201)


async def get_app(request: Request) -> Response:
    found, _ = await _admin(request)
    details = await found.registry.get_app(request.path_params["consumer_key"])
    return _json(app_details_view(details))


async def update_app(request: Request) -> Response:
    found, _ = await _admin(request)
    changes = AppChanges.from_json(await _json_body(request))
    details = await found.registry.update_app(request.path_params["consumer_key"], changes)
    return _json(app_details_view(details))


async def delete_app(request: Request) -> Response:
    found, _ = await _admin(request)
    await found.registry.remove_app(request.path_params["consumer_key"])
    return Response(status_code=204)


async def add_secret(request: Request) -> Response:
    found, _ = await _admin(request)
    given = SecretInput.from_json(await _json_body(request))
    secret, _details = await found.registry.rotate_secret(request.path_params["consumer_key"], given)
    return _json({"id": secret.id, "created_at": iso(secret.created_at)}, 201)


# --- orgs --------------------------------------------------------------------------------------------


async def list_orgs(request: Request) -> Response:
    found, _ = await _admin(request)
    orgs = await found.registry.list_orgs(limit=_page_size(request), after=request.query_params.get("after"))
    return _json([org_view(org) for org in orgs])


async def add_org(request: Request) -> Response:
    found, _ = await _admin(request)
    org = await found.registry.add_org(OrgInput.from_json(await _json_body(request)))
    return _json(org_details_view(await found.registry.get_org(org.org_id)), 201)


async def get_org(request: Request) -> Response:
    found, _ = await _admin(request)
    details = await found.registry.get_org(request.path_params["org_id"])
    return _json(org_details_view(details))


async def update_org(request: Request) -> Response:
    found, _ = await _admin(request)
    changes = OrgChanges.from_json(await _json_body(request))
    org = await found.registry.update_org(request.path_params["org_id"], changes)
    return _json(org_details_view(await found.registry.get_org(org.org_id)))


async def delete_org(request: Request) -> Response:
    found, _ = await _admin(request)
    await found.registry.remove_org(request.path_params["org_id"])
    return Response(status_code=204)


# --- certificates ------------------------------------------------------------------------------------


async def list_certificates(request: Request) -> Response:
    found, _ = await _admin(request)
    records = await found.registry.list_certificates(request.path_params["org_id"])
    return _json([certificate_view(record) for record in records])


async def add_certificate(request: Request) -> Response:
    found, actor = await _admin(request)
    given = CertificateInput.from_json(await _json_body(request))
    added = await found.registry.add_certificate_text(request.path_params["org_id"], given, actor=actor)
    (record,) = added.records
    return _json(certificate_view(record), 201)


async def set_certificate_state(request: Request) -> Response:
    found, _ = await _admin(request)
    given = CertificateStateInput.from_json(await _json_body(request))
    params = request.path_params
    record, _active = await found.registry.set_certificate_state(params["org_id"], params["fingerprint"], given)
    return _json(certificate_view(record))


# --- enrollments -------------------------------------------------------------------------------------


async def list_enrollments(request: Request) -> Response:
    found, _ = await _admin(request)
    states = request.query_params.getlist("state")
    unknown = sorted(set(states) - set(ENROLLMENT_STATES))
    if unknown:
        raise RequestError(f"state is one of {', '.join(ENROLLMENT_STATES)}")
    org = request.query_params.get("org")
    listed = await found.registry.enrollments.list_enrollments(
        states=[state for state in ENROLLMENT_STATES if state in states], org_id=org, limit=_page_size(request)
    )
    return _json([enrollment_view(enrollment) for enrollment in listed])


async def get_enrollment(request: Request) -> Response:
    found, _ = await _admin(request)
    return _json(enrollment_view(await found.registry.enrollments.get(request.path_params["enrollment_id"])))


async def approve_enrollment(request: Request) -> Response:
    found, actor = await _admin(request)
    decided = await found.registry.enrollments.approve(request.path_params["enrollment_id"], actor=actor)
    return _json(enrollment_view(decided))


async def reject_enrollment(request: Request) -> Response:
    found, actor = await _admin(request)
    body = await read_body(request.receive, limit=MAX_JSON)
    given = EnrollmentRejectionInput.from_json(_parse_json(body) if body.strip() else {})
    decided = await found.registry.enrollments.reject(request.path_params["enrollment_id"], given, actor=actor)
    return _json(enrollment_view(decided))


# --- audit -------------------------------------------------------------------------------------------


async def audit(request: Request) -> Response:
    found, _ = await _admin(request)
    params = request.query_params
    try:
        before = int(params["before"]) if "before" in params else None
    except ValueError:
        raise RequestError("before must be an integer") from None
    if before is not None and abs(before) > MAX_JSON_INTEGER:
        raise RequestError("before is out of range")
    limit = _page_size(request)
    # API decisions are queued for batched writing: write this process's queue first, so the
    # listing includes every decision already answered here.
    await found.service.audit.flush()
    org = params.get("org")
    events = await found.service.stores.audit.query(
        org_id=None if org is None else ids.validate(org, prefix=ids.ORG_PREFIX),
        limit=limit,
        before_id=before,
    )
    return _json([audit_view(event) for event in events])


#: (path under PREFIX, handler, method): the admin API's routes.
ROUTES = (
    ("/apps", list_apps, "GET"),
    ("/apps", add_app, "POST"),
    ("/apps/{consumer_key}", get_app, "GET"),
    ("/apps/{consumer_key}", update_app, "PATCH"),
    ("/apps/{consumer_key}", delete_app, "DELETE"),
    ("/apps/{consumer_key}/secrets", add_secret, "POST"),
    ("/orgs", list_orgs, "GET"),
    ("/orgs", add_org, "POST"),
    ("/orgs/{org_id}", get_org, "GET"),
    ("/orgs/{org_id}", update_org, "PATCH"),
    ("/orgs/{org_id}", delete_org, "DELETE"),
    ("/orgs/{org_id}/certificates", list_certificates, "GET"),
    ("/orgs/{org_id}/certificates", add_certificate, "POST"),
    ("/orgs/{org_id}/certificates/{fingerprint}", set_certificate_state, "PATCH"),
    ("/enrollments", list_enrollments, "GET"),
    ("/enrollments/{enrollment_id}", get_enrollment, "GET"),
    ("/enrollments/{enrollment_id}/approve", approve_enrollment, "POST"),
    ("/enrollments/{enrollment_id}/reject", reject_enrollment, "POST"),
    ("/audit", audit, "GET"),
)
