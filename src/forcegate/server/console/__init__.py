"""The admin web console at ``/console`` (issue 15): server-rendered pages over the registry service.

One more adapter over :class:`~forcegate.registry.RegistryService` (decision 0011): the pages read
requests and render templates; sign-in and sessions are :mod:`forcegate.service.console_sign_in`'s,
the figures :mod:`forcegate.registry.activity`'s, changes go through
:mod:`forcegate.registry.changes` (audited with the operator's name), and the debugger is
:mod:`forcegate.service.debugger`'s dry run. docs/console.md describes the pages and the security
model; decision 0023 the choices.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from forcegate.server.console import audit_pages, registry_pages, sign_in

__all__ = ["PREFIX", "ROUTES"]

PREFIX = "/console"

#: (path, handler, method) of every console route, and the service's root page.
ROUTES: tuple[tuple[str, Callable[[Request], Awaitable[Response]], str], ...] = (
    ("/", sign_in.root, "GET"),
    (PREFIX, registry_pages.overview, "GET"),
    (f"{PREFIX}/static/console.css", sign_in.stylesheet, "GET"),
    (f"{PREFIX}/sign-in", sign_in.sign_in_page, "GET"),
    (f"{PREFIX}/sign-in", sign_in.sign_in, "POST"),
    (f"{PREFIX}/sign-out", sign_in.sign_out, "POST"),
    (f"{PREFIX}/orgs", registry_pages.orgs, "GET"),
    (f"{PREFIX}/orgs", registry_pages.add_org, "POST"),
    (f"{PREFIX}/orgs/{{org_id}}", registry_pages.org_detail, "GET"),
    (f"{PREFIX}/orgs/{{org_id}}/enabled", registry_pages.set_enabled, "POST"),
    (f"{PREFIX}/orgs/{{org_id}}/certificates", registry_pages.add_certificate, "POST"),
    (f"{PREFIX}/orgs/{{org_id}}/certificates/{{fingerprint}}/state", registry_pages.set_certificate_state, "POST"),
    (f"{PREFIX}/apps", registry_pages.apps, "GET"),
    (f"{PREFIX}/apps/{{consumer_key}}/secret", registry_pages.rotate_secret, "POST"),
    (f"{PREFIX}/enrollments", registry_pages.enrollments, "GET"),
    (f"{PREFIX}/enrollments/{{enrollment_id}}/approve", registry_pages.approve_enrollment, "POST"),
    (f"{PREFIX}/enrollments/{{enrollment_id}}/reject", registry_pages.reject_enrollment, "POST"),
    (f"{PREFIX}/audit", audit_pages.audit, "GET"),
    (f"{PREFIX}/debugger", audit_pages.debugger_page, "GET"),
    (f"{PREFIX}/debugger", audit_pages.debugger, "POST"),
)
