"""The console's registry pages: overview, orgs, an org, apps, enrollments.

Each handler reads the request, calls the registry service (through
:class:`~forcegate.registry.changes.AuditedChanges` for a change, so it is audited with the
operator's name) or the activity reports, and renders a template. A change answers with a redirect
to the page it was made from (post/redirect/get), carrying a notice from a fixed list — except a
consumer-secret rotation, whose answer shows the new secret once.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.responses import Response

from forcegate.errors import InvalidInput, RequestError
from forcegate.registry import EnrollmentRejectionInput, OrgInput
from forcegate.registry.activity import MIGRATION_CATEGORIES
from forcegate.server.console.charts import stacked_chart
from forcegate.server.console.web import (
    MAX_UPLOAD_BYTES,
    Page,
    check_csrf,
    console_endpoint,
    field,
    read_form,
    redirect,
    render,
)
from forcegate.stores.console_rows import AuditFilter, OrgSearch
from forcegate.stores.enrollment_rows import ENROLLMENT_STATES
from forcegate.stores.models import OPEN_ENROLLMENT_STATES

__all__ = [
    "add_certificate",
    "add_org",
    "approve_enrollment",
    "apps",
    "enrollments",
    "org_detail",
    "orgs",
    "overview",
    "reject_enrollment",
    "rotate_secret",
    "set_certificate_state",
    "set_enabled",
]

ORG_PAGE = 50
#: What a redirect after a change may say (the query names one; nothing else is ever shown).
NOTICES = {
    "org_added": "The org was added.",
    "org_enabled": "The org is enabled.",
    "org_disabled": "The org is disabled: every credential of it is refused.",
    "certificate_added": "The certificate is trusted for this org.",
    "certificate_retired": "The certificate is retired: assertions signed with its key are refused.",
    "certificate_active": "The certificate is active again.",
    "enrollment_approved": "The enrollment was approved.",
    "enrollment_rejected": "The enrollment was rejected.",
    "signed_out": "You are signed out.",
}


def _notice(page: Page) -> str:
    return NOTICES.get(page.request.query_params.get("notice", ""), "")


def _path_param(page: Page, name: str) -> str:
    value = page.request.path_params[name]
    assert isinstance(value, str)
    return value


@console_endpoint
async def overview(page: Page) -> Response:
    report = await page.console.reports.overview()
    hours = int((page.console.runtime.service.clock.now() - report.activity_since) // report.bucket_seconds) + 1
    charts = {
        result: stacked_chart(
            report.activity,
            result=result,
            since=report.activity_since,
            bucket_seconds=report.bucket_seconds,
            buckets=hours,
        )
        for result in ("allowed", "denied")
    }
    return render(
        page.request,
        "overview.html",
        {
            "title": "Overview",
            "report": report,
            "charts": charts,
            "now": page.console.runtime.service.clock.now(),
            "categories": MIGRATION_CATEGORIES,
        },
        page=page,
    )


@console_endpoint
async def orgs(page: Page) -> Response:
    params = page.request.query_params
    state = params.get("state", "")
    if state not in ("", "enabled", "disabled"):
        raise RequestError("state is enabled or disabled")
    text = params.get("q", "").strip()[:100]
    search = OrgSearch(text=text, enabled=None if not state else state == "enabled")
    after = params.get("after") or None
    found = await page.console.reports.search_orgs(search, limit=ORG_PAGE, after=after)
    return render(
        page.request,
        "orgs.html",
        {"title": "Orgs", "page_of": found, "q": text, "state": state, "after": after, "notice": _notice(page)},
        page=page,
    )


@console_endpoint
async def add_org(page: Page) -> Response:
    form = await read_form(page.request)
    check_csrf(form, page.csrf)
    given = OrgInput(org_id=field(form, "org_id").strip(), name=field(form, "name").strip())
    org = await page.console.changes.add_org(given, actor=page.actor)
    return redirect(page.request, f"/console/orgs/{org.org_id}", notice="org_added")


@console_endpoint
async def org_detail(page: Page) -> Response:
    registry = page.console.runtime.registry
    details = await registry.get_org(_path_param(page, "org_id"))
    events = await page.console.reports.audit(AuditFilter(org_id=details.org.org_id), limit=20)
    return render(
        page.request,
        "org.html",
        {
            "title": details.org.name or details.org.org_id,
            "details": details,
            "events": events,
            "now": page.console.runtime.service.clock.now(),
            "notice": _notice(page),
        },
        page=page,
    )


@console_endpoint
async def set_enabled(page: Page) -> Response:
    form = await read_form(page.request)
    check_csrf(form, page.csrf)
    enabled = field(form, "enabled")
    if enabled not in ("true", "false"):
        raise RequestError("enabled is true or false")
    org = await page.console.changes.set_enabled(_path_param(page, "org_id"), enabled == "true", actor=page.actor)
    return redirect(
        page.request, f"/console/orgs/{org.org_id}", notice="org_enabled" if org.enabled else "org_disabled"
    )


@console_endpoint
async def add_certificate(page: Page) -> Response:
    form = await read_form(page.request, limit=MAX_UPLOAD_BYTES)
    try:
        check_csrf(form, page.csrf)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose a certificate file (PEM, DER, JKS or PKCS#12)")
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        filename = upload.filename[:255]
    finally:
        await form.close()  # the upload's spooled temporary file
    password = field(form, "password")
    added = await page.console.changes.add_certificate_file(
        _path_param(page, "org_id"),
        data,
        filename=filename,
        password=password.encode("utf-8") if password else None,
        label=field(form, "label").strip()[:255],
        shared=field(form, "shared") == "on",
        actor=page.actor,
    )
    org_id = added.records[0].org_id
    return redirect(page.request, f"/console/orgs/{org_id}", notice="certificate_added")


@console_endpoint
async def set_certificate_state(page: Page) -> Response:
    form = await read_form(page.request)
    check_csrf(form, page.csrf)
    state = field(form, "state")
    record, _ = await page.console.changes.set_certificate_state(
        _path_param(page, "org_id"), _path_param(page, "fingerprint"), state, actor=page.actor
    )
    notice = "certificate_retired" if record.state == "retired" else "certificate_active"
    return redirect(page.request, f"/console/orgs/{record.org_id}", notice=notice)


async def _apps_page(page: Page, *, rotated: dict[str, object] | None = None) -> Response:
    listed = await page.console.runtime.registry.list_apps()
    return render(page.request, "apps.html", {"title": "Apps", "apps": listed, "rotated": rotated}, page=page)


@console_endpoint
async def apps(page: Page) -> Response:
    return await _apps_page(page)


@console_endpoint
async def rotate_secret(page: Page) -> Response:
    """Make the pasted secret current; the answer shows it this once (the page is never cached)."""
    form = await read_form(page.request)
    check_csrf(form, page.csrf)
    keep = field(form, "keep_previous", default="1")
    if not keep.isdigit() or len(keep) > 3:
        raise InvalidInput("keep previous is a whole number")
    secret = field(form, "secret").strip()
    consumer_key = _path_param(page, "consumer_key")
    added = await page.console.changes.rotate_secret(consumer_key, secret, keep_previous=int(keep), actor=page.actor)
    return await _apps_page(page, rotated={"consumer_key": consumer_key, "id": added.id, "secret": secret})


@console_endpoint
async def enrollments(page: Page) -> Response:
    state = page.request.query_params.get("state", "open")
    if state not in ("open", "all", *ENROLLMENT_STATES):
        raise RequestError(f"state is open, all or one of {', '.join(ENROLLMENT_STATES)}")
    states = {"open": OPEN_ENROLLMENT_STATES, "all": ()}.get(state) or tuple(s for s in ENROLLMENT_STATES if s == state)
    listed = await page.console.runtime.registry.enrollments.list_enrollments(states=states, limit=100)
    return render(
        page.request,
        "enrollments.html",
        {
            "title": "Enrollments",
            "enrollments": listed,
            "state": state,
            "states": ENROLLMENT_STATES,
            "notice": _notice(page),
            "now": page.console.runtime.service.clock.now(),
        },
        page=page,
    )


@console_endpoint
async def approve_enrollment(page: Page) -> Response:
    form = await read_form(page.request)
    check_csrf(form, page.csrf)
    await page.console.runtime.registry.enrollments.approve(_path_param(page, "enrollment_id"), actor=page.actor)
    return redirect(page.request, "/console/enrollments", notice="enrollment_approved")


@console_endpoint
async def reject_enrollment(page: Page) -> Response:
    form = await read_form(page.request)
    check_csrf(form, page.csrf)
    given = EnrollmentRejectionInput(reason=field(form, "reason").strip()[:500] or "rejected in the console")
    await page.console.runtime.registry.enrollments.reject(_path_param(page, "enrollment_id"), given, actor=page.actor)
    return redirect(page.request, "/console/enrollments", notice="enrollment_rejected")
