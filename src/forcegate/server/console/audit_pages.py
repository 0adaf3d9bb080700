"""The console's audit log and token debugger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from starlette.responses import Response

from forcegate.errors import ForcegateError, RequestError
from forcegate.server.console.web import Page, check_csrf, console_endpoint, field, read_form, render
from forcegate.service.debugger import dry_run
from forcegate.stores.console_rows import AuditFilter

__all__ = ["audit", "debugger", "debugger_page"]

AUDIT_PAGE = 50
_CREDENTIALS = ("jwt-bearer", "jwt", "access-token", "canvas", "session", "bearer", "admin", "enrollment")


def _word(text: str, name: str) -> str | None:
    """A credential kind or refusal code to filter on: printable ASCII without spaces, as they all are."""
    text = text.strip()
    if not text:
        return None
    if len(text) > 64 or not text.isascii() or not text.isprintable() or " " in text:
        raise RequestError(f"{name} is a word of at most 64 printable ASCII characters")
    return text


def _moment(text: str, name: str) -> float | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (what a date or datetime-local field sends), as UTC."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text[:19])
    except ValueError:
        raise RequestError(f"{name} is a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM), in UTC") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


#: The result filter's values (empty: either).
_RESULTS: dict[str, Literal["allowed", "denied"] | None] = {"": None, "allowed": "allowed", "denied": "denied"}


@console_endpoint
async def audit(page: Page) -> Response:
    params = page.request.query_params
    result_text = params.get("result", "")
    if result_text not in _RESULTS:
        raise RequestError("result is allowed or denied")
    before_text = params.get("before", "")
    if before_text and (not before_text.isdigit() or len(before_text) > 18):
        raise RequestError("before is an event id")
    given = AuditFilter(
        org_id=params.get("org", "").strip() or None,
        result=_RESULTS[result_text],
        credential=_word(params.get("credential", ""), "credential"),
        code=_word(params.get("code", ""), "code"),
        since=_moment(params.get("since", ""), "since"),
        until=_moment(params.get("until", ""), "until"),
    )
    events = await page.console.reports.audit(
        given, limit=AUDIT_PAGE, before_id=int(before_text) if before_text else None
    )
    query = {key: value for key, value in params.items() if key != "before" and value}
    return render(
        page.request,
        "audit.html",
        {
            "title": "Audit log",
            "events": events,
            "filters": query,
            "credentials": _CREDENTIALS,
            "next_before": events[-1].id if len(events) == AUDIT_PAGE else None,
            "is_paged": bool(before_text),
        },
        page=page,
    )


@console_endpoint
async def debugger_page(page: Page) -> Response:
    return render(page.request, "debugger.html", {"title": "Debugger", "verdict": None, "pretty": {}}, page=page)


@console_endpoint
async def debugger(page: Page) -> Response:
    """Judge the pasted credential dry (:mod:`forcegate.service.debugger`): nothing of it is stored,
    logged or spent, and the page does not echo it back."""
    form = await read_form(page.request)
    check_csrf(form, page.csrf)
    try:
        verdict = await dry_run(
            page.console.runtime.service, field(form, "credential"), consumer_key=field(form, "consumer_key").strip()
        )
    except ForcegateError as exc:
        return render(
            page.request,
            "debugger.html",
            {"title": "Debugger", "verdict": None, "pretty": {}, "error": exc.reason},
            status=400,
            page=page,
        )
    pretty = {
        name: json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) for name, value in verdict.decoded.items()
    }
    return render(page.request, "debugger.html", {"title": "Debugger", "verdict": verdict, "pretty": pretty}, page=page)
