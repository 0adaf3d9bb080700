"""The console's routes in the service's OpenAPI document (it documents exactly what is served).

They are HTML pages and form posts for a browser signed in to the console (a session cookie, see
docs/console.md), not an API: described here for completeness — every status a request may get, and
that the answer is HTML — so the document's fuzzing covers them too.
"""

from __future__ import annotations

from typing import Any

__all__ = ["console_paths"]


def _page(description: str) -> dict[str, Any]:
    # A fresh dict every time: each document is the caller's to change (tested).
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _see_other(where: str) -> dict[str, Any]:
    return {"description": f"303 to {where}", "headers": {"Location": {"schema": {"type": "string"}}}}


def _refusals() -> dict[str, Any]:
    return {
        "400": _page("the request was refused as malformed (the page says why)"),
        "503": _page("a store is down"),
    }


def _get(summary: str, *, query: tuple[str, ...] = (), not_found: bool = False) -> dict[str, Any]:
    responses = {
        "200": _page("the page"),
        "303": _see_other("the sign-in page, without a live console session"),
        **_refusals(),
    }
    if not_found:
        responses["404"] = _page("no such record")
    operation: dict[str, Any] = {"summary": summary, "tags": ["console"], "responses": responses}
    if query:
        operation["parameters"] = [{"name": name, "in": "query", "schema": {"type": "string"}} for name in query]
    return operation


def _post(summary: str, fields: dict[str, Any], *, multipart: bool = False) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"csrf": {"type": "string"}, **fields}, "required": ["csrf"]}
    kind = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
    return {
        "summary": summary,
        "tags": ["console"],
        "requestBody": {"required": True, "content": {kind: {"schema": schema}}},
        "responses": {
            "200": _page("the answer page (a rotated secret, a debugger verdict)"),
            "303": _see_other("the page the change was made from"),
            **_refusals(),
            "403": _page("no live console session, or the form's CSRF token is not this session's"),
            "404": _page("no such record"),
            "409": _page("the change conflicts with the registry (already there, a state that moved on)"),
            "429": _page("too many attempts"),
        },
    }


def _text(description: str = "") -> dict[str, Any]:
    return {"type": "string", **({"description": description} if description else {})}


def console_paths() -> dict[str, Any]:
    """The path items of ``/``, ``/console`` and its pages."""
    sign_in_responses = {
        "303": _see_other("the console, signed in (the session cookie is set)"),
        "400": _page("the form cannot be read"),
        "401": _page("the sign-in page again: wrong name, password or token"),
        "403": _page("the form was not served to this browser (login CSRF)"),
        "429": _page("locked after repeated failures (Retry-After)"),
        "503": _page("a store is down"),
    }
    return {
        "/": {
            "get": {
                "summary": "links to the console, this document and the metadata",
                "responses": {"200": _page("the root page")},
            }
        },
        "/console": {
            "get": _get("the overview: registry counts, expiring certificates, 24 h activity, migration progress")
        },
        "/console/static/console.css": {
            "get": {
                "summary": "the console's stylesheet",
                "responses": {"200": {"description": "CSS", "content": {"text/css": {"schema": {"type": "string"}}}}},
            }
        },
        "/console/sign-in": {
            "get": {
                "summary": "the sign-in page",
                "parameters": [{"name": "notice", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": _page("the sign-in form"),
                    "303": _see_other("the console, when signed in already"),
                    "503": _page("a store is down"),
                },
            },
            "post": {
                "summary": "sign in with an operator's name and password, or the admin token",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "csrf": _text(),
                                    "method": {"type": "string", "enum": ["password", "token"]},
                                    "name": _text(),
                                    "password": _text(),
                                    "token": _text(),
                                },
                                "required": ["csrf"],
                            }
                        }
                    },
                },
                "responses": sign_in_responses,
            },
        },
        "/console/sign-out": {"post": _post("end the console session", {})},
        "/console/orgs": {
            "get": _get("search and page the orgs", query=("q", "state", "after")),
            "post": _post("add an org", {"org_id": _text(), "name": _text()}),
        },
        "/console/orgs/{org_id}": {"get": _get("an org: its trust, certificates and recent events", not_found=True)},
        "/console/orgs/{org_id}/enabled": {
            "post": _post("enable or disable the org", {"enabled": {"type": "string", "enum": ["true", "false"]}})
        },
        "/console/orgs/{org_id}/certificates": {
            "post": _post(
                "trust a certificate file (PEM, DER, JKS, PKCS#12) for the org",
                {
                    "file": {"type": "string", "format": "binary"},
                    "password": _text(),
                    "label": _text(),
                    "shared": _text(),
                },
                multipart=True,
            )
        },
        "/console/orgs/{org_id}/certificates/{fingerprint}/state": {
            "post": _post(
                "retire or reactivate a certificate", {"state": {"type": "string", "enum": ["active", "retired"]}}
            )
        },
        "/console/apps": {"get": _get("the apps, their trust model and active secrets")},
        "/console/apps/{consumer_key}/secret": {
            "post": _post(
                "make a new consumer secret current (shown once)", {"secret": _text(), "keep_previous": _text()}
            )
        },
        "/console/enrollments": {"get": _get("the enrollment queue with its evidence", query=("state",))},
        "/console/enrollments/{enrollment_id}/approve": {"post": _post("approve an enrollment", {})},
        "/console/enrollments/{enrollment_id}/reject": {"post": _post("reject an enrollment", {"reason": _text()})},
        "/console/audit": {
            "get": _get(
                "the audit log, filtered and paged",
                query=("org", "result", "credential", "code", "since", "until", "before"),
            )
        },
        "/console/debugger": {
            "get": _get("the token debugger"),
            "post": _post(
                "judge a pasted JWT or Canvas signed request against the registry, dry "
                "(nothing stored, logged or spent)",
                {"credential": _text(), "consumer_key": _text()},
            ),
        },
    }
