"""The admin API under ``/admin/api/v1``: apps, orgs, certificates, audit. Admin token required.

Secrets go in (a consumer secret when an app is added or rotated) and never come out. Writes go
through the store, which validates and writes atomically; the registry cache of every worker sees
them on its next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from forcegate.core import ids
from forcegate.errors import ConfigurationError, ForcegateError, KeyMaterialError, NotFound, RequestError
from forcegate.keys import load_keystore
from forcegate.server._asgi import read_body
from forcegate.server.oauth_endpoints import refusal, require_admin
from forcegate.server.service import Service
from forcegate.stores.models import Org, OrgPolicy
from forcegate.stores.protocols import UNSET
from forcegate.stores.views import app_view, audit_view, certificate_view, iso, org_view

__all__ = ["admin_routes"]

PREFIX = "/admin/api/v1"
MAX_JSON = 256 * 1024
# RFC 7493 (I-JSON) §2.2: integers beyond ±(2**53 - 1) are not interoperable. Refusing them here also
# keeps every integer the stores bind (a lifetime, keep_previous + 1, an audit id) inside SQLite's 64 bits.
MAX_INTEGER = 2**53 - 1
# A listing (orgs, audit events) returns ``limit`` items: 100 unless asked, clamped to 1..1000.
DEFAULT_PAGE = 100
MAX_PAGE = 1000
Handler = Callable[[Request], Awaitable[Response]]


async def _json_body(request: Request) -> dict[str, Any]:
    # Bounded while reading: request.body() would take any size into memory before a check.
    body = await read_body(request.receive, limit=MAX_JSON)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    if name not in data or data[name] is None:
        if required:
            raise RequestError(f"field {name!r} is required")
        return None
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RequestError(f"field {name!r} has the wrong type")
    if kind is int and isinstance(value, int) and abs(value) > MAX_INTEGER:
        raise RequestError(f"field {name!r} is out of range")
    return value


def _strings(data: dict[str, Any], name: str) -> list[str] | None:
    value = _field(data, name, list)
    if value is None:
        return None
    if not all(isinstance(item, str) and item for item in value):
        raise RequestError(f"field {name!r} must be an array of non-empty strings")
    return [str(item) for item in value]


def _subjects(data: dict[str, Any]) -> tuple[str, ...] | None:
    """``null`` or absent: any subject. An empty list would refuse every assertion: say so instead."""
    subjects = _strings(data, "subjects")
    if subjects is not None and not subjects:
        raise RequestError("subjects is empty, which would refuse every subject: send null to accept any")
    return None if subjects is None else tuple(subjects)


def _lifetime(data: dict[str, Any], name: str) -> int | None:
    value = _field(data, name, int)
    if value is None:
        return None
    if value <= 0:
        raise RequestError(f"field {name!r} must be a positive number of seconds")
    return int(value)


def _unknown(data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise RequestError(f"unknown field(s): {', '.join(extra)}")


def admin_routes(service: Service) -> list[Route]:
    trust = service.stores.trust

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                await require_admin(service, request, request.url.path)
                return await handler(request)
            except ConfigurationError as exc:
                # The stores check what they are given and name the field: here that is the caller's
                # input (an empty secret, a consumer key with spaces, a short fingerprint), not a
                # server fault.
                return JSONResponse(
                    {"error": "invalid_request", "error_description": exc.reason},
                    status_code=400,
                    headers={"cache-control": "no-store"},
                )
            except ForcegateError as exc:
                if exc.status in (401, 503, 500):
                    return refusal(service, exc)
                return JSONResponse(
                    {"error": exc.code, "error_description": exc.reason},
                    status_code=exc.status if exc.status in (400, 403, 404, 409, 413) else 400,
                    headers={"cache-control": "no-store"},
                )

        return endpoint

    async def list_apps(_: Request) -> Response:
        apps = await trust.list_apps()
        return JSONResponse([app_view(a, await trust.app_secrets(a.consumer_key)) for a in apps])

    async def add_app(request: Request) -> Response:
        data = await _json_body(request)
        _unknown(data, {"consumer_key", "name", "secret", "any_org"})
        app = await trust.add_app(
            consumer_key=_field(data, "consumer_key", str, required=True),
            name=_field(data, "name", str) or "",
            secret=_field(data, "secret", str, required=True),
            any_org=bool(_field(data, "any_org", bool)),
        )
        return JSONResponse(app_view(app, await trust.app_secrets(app.consumer_key)), status_code=201)

    async def get_app(request: Request) -> Response:
        key = request.path_params["consumer_key"]
        app = await trust.get_app(key)
        if app is None:
            raise NotFound(f"no app with consumer key {key!r}")
        return JSONResponse(app_view(app, await trust.app_secrets(key)))

    async def delete_app(request: Request) -> Response:
        await trust.delete_app(request.path_params["consumer_key"])
        return Response(status_code=204)

    async def add_secret(request: Request) -> Response:
        data = await _json_body(request)
        _unknown(data, {"secret", "keep_previous"})
        keep = _field(data, "keep_previous", int)
        secret = await trust.add_app_secret(
            request.path_params["consumer_key"],
            _field(data, "secret", str, required=True),
            keep_previous=1 if keep is None else keep,
        )
        return JSONResponse({"id": secret.id, "created_at": iso(secret.created_at)}, status_code=201)

    async def list_orgs(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", str(DEFAULT_PAGE)))
        except ValueError:
            raise RequestError("limit must be an integer") from None
        orgs = await trust.list_orgs(limit=max(1, min(limit, MAX_PAGE)), after=request.query_params.get("after"))
        return JSONResponse([org_view(o) for o in orgs])

    async def add_org(request: Request) -> Response:
        data = await _json_body(request)
        fields = {
            "org_id",
            "name",
            "enabled",
            "issuers",
            "subjects",
            "scopes",
            "max_assertion_lifetime",
            "token_lifetime",
        }
        _unknown(data, fields)
        org = await trust.add_org(
            Org(
                org_id=_field(data, "org_id", str, required=True),
                name=_field(data, "name", str) or "",
                enabled=_field(data, "enabled", bool) is not False,
                issuers=tuple(_strings(data, "issuers") or ()),
                subjects=_subjects(data),
                scopes=tuple(_strings(data, "scopes") or ()),
                policy=OrgPolicy(
                    max_assertion_lifetime=_lifetime(data, "max_assertion_lifetime"),
                    token_lifetime=_lifetime(data, "token_lifetime"),
                ),
            )
        )
        return JSONResponse(org_view(org, []), status_code=201)

    async def get_org(request: Request) -> Response:
        org_id = request.path_params["org_id"]
        org = await trust.get_org(org_id)
        if org is None:
            raise NotFound(f"no org {org_id}")
        return JSONResponse(org_view(org, await trust.list_certificates(org.org_id)))

    async def update_org(request: Request) -> Response:
        data = await _json_body(request)
        fields = {"name", "enabled", "issuers", "subjects", "scopes", "max_assertion_lifetime", "token_lifetime"}
        _unknown(data, fields)
        changes: dict[str, Any] = {}
        if "name" in data:
            changes["name"] = _field(data, "name", str) or ""
        if "enabled" in data:
            changes["enabled"] = bool(_field(data, "enabled", bool, required=True))
        for name in ("issuers", "scopes"):
            if name in data:
                changes[name] = tuple(_strings(data, name) or ())
        if "subjects" in data:
            changes["subjects"] = _subjects(data)
        if "max_assertion_lifetime" in data or "token_lifetime" in data:
            current = await trust.get_org(request.path_params["org_id"])
            base = current.policy if current is not None else OrgPolicy()
            changes["policy"] = OrgPolicy(
                max_assertion_lifetime=_lifetime(data, "max_assertion_lifetime")
                if "max_assertion_lifetime" in data
                else base.max_assertion_lifetime,
                token_lifetime=_lifetime(data, "token_lifetime") if "token_lifetime" in data else base.token_lifetime,
            )
        org = await trust.update_org(request.path_params["org_id"], **{k: changes.get(k, UNSET) for k in changes})
        return JSONResponse(org_view(org, await trust.list_certificates(org.org_id)))

    async def delete_org(request: Request) -> Response:
        await trust.delete_org(request.path_params["org_id"])
        return Response(status_code=204)

    async def list_certificates(request: Request) -> Response:
        org_id = request.path_params["org_id"]
        if await trust.get_org(org_id) is None:
            raise NotFound(f"no org {org_id}")
        records = await trust.list_certificates(org_id)
        return JSONResponse([certificate_view(r) for r in records])

    async def add_certificate(request: Request) -> Response:
        data = await _json_body(request)
        _unknown(data, {"certificate", "label"})
        text = _field(data, "certificate", str, required=True)
        keystore = load_keystore(text.encode("utf-8"))
        certificates = [e.certificate for e in keystore.entries if e.certificate is not None]
        if len(certificates) != 1:
            raise KeyMaterialError(f"expected exactly one certificate (PEM or base64 DER), found {len(certificates)}")
        record = await trust.add_certificate(
            request.path_params["org_id"], certificates[0], label=_field(data, "label", str) or ""
        )
        return JSONResponse(certificate_view(record), status_code=201)

    async def set_certificate_state(request: Request) -> Response:
        data = await _json_body(request)
        _unknown(data, {"state"})
        state = _field(data, "state", str, required=True)
        if state not in ("active", "retired"):
            raise RequestError("state must be 'active' or 'retired'")
        record = await trust.set_certificate_state(
            request.path_params["org_id"], request.path_params["fingerprint"], state
        )
        return JSONResponse(certificate_view(record))

    async def audit(request: Request) -> Response:
        params = request.query_params
        try:
            limit = int(params.get("limit", str(DEFAULT_PAGE)))
            before = int(params["before"]) if "before" in params else None
        except ValueError:
            raise RequestError("limit and before must be integers") from None
        if before is not None and abs(before) > MAX_INTEGER:
            raise RequestError("before is out of range")
        # API decisions are queued for batched writing: write this process's queue first, so the
        # listing includes every decision already answered here.
        await service.audit.flush()
        org = params.get("org")
        events = await service.stores.audit.query(
            org_id=None if org is None else ids.validate(org, prefix=ids.ORG_PREFIX),
            limit=max(1, min(limit, MAX_PAGE)),
            before_id=before,
        )
        return JSONResponse([audit_view(e) for e in events], headers={"cache-control": "no-store"})

    table: list[tuple[str, Handler, str]] = [
        ("/apps", list_apps, "GET"),
        ("/apps", add_app, "POST"),
        ("/apps/{consumer_key}", get_app, "GET"),
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
        ("/audit", audit, "GET"),
    ]
    return [Route(PREFIX + path, guarded(handler), methods=[method]) for path, handler, method in table]
