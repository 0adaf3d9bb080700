"""``/enroll``: a subscriber admin enrolls their org's certificate (docs/onboarding.md).

* ``GET /enroll`` — where to sign in; ``GET /enroll?login=HOST`` starts the Salesforce sign-in (303 to
  the login host's authorize endpoint, the browser's value in the ``forcegate_enroll`` cookie);
* ``GET /enroll/callback`` — Salesforce sends the admin back: the code is exchanged, the admin check
  made, and the upload page shown;
* ``POST /enroll/certificate`` — the certificate (PEM, pasted): the registry starts the enrollment and
  the page shows the one-time enrollment code;
* ``POST /enroll/canvas`` (and ``/enroll/canvas/{consumer_key}``) — the same sign-in from inside a
  Canvas app, the signed request standing in for it (decision 0022); its upload page's form goes to
  ``POST /enroll/canvas/certificate`` with a single-use upload token instead of the cookie;
* ``POST /enroll/proof`` — the org's proof of possession (form ``assertion``), answered in JSON.

Adapters only: the sign-ins are :class:`~forcegate.service.enrollment_sign_in.EnrollmentSignIn`'s and
:class:`~forcegate.service.enrollment_canvas.CanvasEnrollment`'s, the enrollment the registry's
(:mod:`forcegate.registry.enrollment`); refusals are rendered by the application (an HTML page on
the browser's paths, RFC 6749 §5.2 JSON for the proof). Every entry's refusals count against the
failure limit (:func:`forcegate.service.failure_bound.bounded`, decision 0013), keyed on the client
and the enrollment's org as soon as it is known.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from forcegate.errors import EnrollmentSignInFailed, KeyMaterialError, RequestError, SignedRequestTooLarge
from forcegate.keys import load_keystore
from forcegate.registry import Actor, certificates_in
from forcegate.registry.enrollment import PROOF_PATH
from forcegate.server.endpoints.canvas import MAX_CANVAS_BODY
from forcegate.server.enroll_pages import (
    CERTIFICATE_FILE,
    canvas_enroll_headers,
    canvas_upload_page,
    code_page,
    enroll_headers,
    start_page,
    upload_headers,
    upload_page,
)
from forcegate.server.request import client_address, read_form, read_upload_form
from forcegate.server.runtime import Runtime, runtime
from forcegate.service.enrollment_canvas import CANVAS_ENTRY, UPLOAD_PATH, CanvasEnrollment
from forcegate.service.enrollment_sign_in import SIGNED_IN_SECONDS, EnrollmentSignIn, SignedInAdmin, form_token
from forcegate.service.failure_bound import bounded
from forcegate.settings import Settings

__all__ = [
    "COOKIE",
    "ROUTES",
    "callback",
    "canvas_certificate",
    "canvas_sign_in",
    "certificate",
    "proof",
    "start",
]

COOKIE = "forcegate_enroll"
_MAX_CERTIFICATE_FORM = 64 * 1024
_MAX_PROOF_FORM = 32 * 1024


def _sign_in(found: Runtime) -> EnrollmentSignIn:
    stores = found.service.stores
    # The service's audit writer: it bounds the unverified refusals one client can write (decision 0013).
    return EnrollmentSignIn(found.settings, stores.enrollments, found.service.audit.write, found.service.clock)


def _cookie(value: str, settings: Settings, *, max_age: int) -> str:
    # SameSite=Lax: sent on Salesforce's top-level redirect back to the callback, never on a
    # cross-site POST. Path=/enroll: no other path of the service sees it.
    secure = "; Secure" if settings.secure_cookies else ""
    return f"{COOKIE}={value}; Path=/enroll; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def _page(body: str, headers: list[tuple[str, str]], *, cookie: str | None = None) -> Response:
    response = HTMLResponse(body, headers=dict(headers))
    if cookie is not None:
        response.headers.append("set-cookie", cookie)
    return response


async def start(request: Request) -> Response:
    found = runtime(request.scope)
    async with bounded(found.service.failures, client=client_address(request.scope)):
        sign_in = _sign_in(found)
        login = request.query_params.get("login")
        if login is None:
            if not found.settings.enrollment_enabled:
                raise EnrollmentSignInFailed("enrollment by Salesforce sign-in is not configured here")
            return _page(start_page(found.settings.enrollment_login_hosts), enroll_headers(found.settings))
        browser_value, authorize_url = await sign_in.begin(login)
    response = RedirectResponse(authorize_url, status_code=303, headers=dict(enroll_headers(found.settings)))
    response.headers.append("set-cookie", _cookie(browser_value, found.settings, max_age=SIGNED_IN_SECONDS))
    return response


async def callback(request: Request) -> Response:
    found = runtime(request.scope)
    params = request.query_params
    browser_value = request.cookies.get(COOKIE)
    client = client_address(request.scope)
    async with bounded(found.service.failures, client=client) as claimed:
        admin = await _sign_in(found).complete(
            browser_value,
            state=params.get("state"),
            code=params.get("code"),
            error=params.get("error"),
            client=client,
            claimed=claimed,
        )
    assert browser_value is not None  # complete() refuses a browser without one
    body = upload_page(admin.org_id, admin.username, form_token(browser_value))
    return _page(body, upload_headers(found.settings))


async def certificate(request: Request) -> Response:
    found = runtime(request.scope)
    client = client_address(request.scope)
    async with bounded(found.service.failures, client=client) as claimed:
        _check_own_origin(request, found.settings)
        form, file = await read_upload_form(
            request.scope, request.receive, limit=_MAX_CERTIFICATE_FORM, file_field=CERTIFICATE_FILE
        )
        browser_value = request.cookies.get(COOKIE)
        sign_in = _sign_in(found)
        admin = await sign_in.signed_in(browser_value, form=form.get("form_token", ""))
        claimed.org_id = admin.org_id
        actor = Actor(entry="/enroll/certificate", credential="salesforce-sign-in", client=client)
        body = await _enroll(found, admin, form, file, actor)
        await sign_in.end(browser_value)  # one enrollment per sign-in
    return _page(body, enroll_headers(found.settings), cookie=_cookie("", found.settings, max_age=0))


async def canvas_sign_in(request: Request) -> Response:
    """``POST /enroll/canvas[/{consumer_key}]``: Salesforce posts the signed request into the Canvas
    iframe; the answer is the upload page, whose form carries the upload token (no cookie)."""
    found = runtime(request.scope)
    client = client_address(request.scope)
    form = functools.partial(
        read_form, request.scope, request.receive, limit=MAX_CANVAS_BODY, too_large=SignedRequestTooLarge
    )
    async with bounded(found.service.failures, client=client) as claimed:
        admin, upload_token = await CanvasEnrollment(found.service).sign_in(
            form,
            consumer_key=request.path_params.get("consumer_key"),
            client=client,
            origin=request.headers.get("origin"),
            claimed=claimed,
        )
    body = canvas_upload_page(admin.org_id, admin.username, upload_token, found.settings.public_url + UPLOAD_PATH)
    return _page(body, canvas_enroll_headers(found.settings, posts_back=True))


async def canvas_certificate(request: Request) -> Response:
    """``POST /enroll/canvas/certificate``: the upload token (consumed, once) and the certificate."""
    found = runtime(request.scope)
    client = client_address(request.scope)
    async with bounded(found.service.failures, client=client) as claimed:
        _check_own_origin(request, found.settings)
        form, file = await read_upload_form(
            request.scope, request.receive, limit=_MAX_CERTIFICATE_FORM, file_field=CERTIFICATE_FILE
        )
        canvas = CanvasEnrollment(found.service)
        upload_token = form.get("upload_token")
        admin = await canvas.take(upload_token, client=client, claimed=claimed)
        assert upload_token is not None  # take() refuses a form without one
        try:
            actor = Actor(entry=UPLOAD_PATH, credential="canvas", client=client)
            body = await _enroll(found, admin, form, file, actor)
        finally:
            await canvas.end(upload_token)  # used: whatever the registry decided, the form is spent
    return _page(body, canvas_enroll_headers(found.settings))


async def proof(request: Request) -> Response:
    found = runtime(request.scope)
    async with bounded(found.service.failures, client=client_address(request.scope)) as claimed:
        form = await read_form(request.scope, request.receive, limit=_MAX_PROOF_FORM)
        assertion = form.get("assertion")
        if not assertion:
            raise RequestError("the form carries no assertion")
        enrollments = found.registry.enrollments
        claimed.resolve = functools.partial(enrollments.claimed_org, assertion)  # only read on a refusal
        actor = Actor(entry=PROOF_PATH, credential="enrollment-proof", client=client_address(request.scope))
        decided = await enrollments.prove(assertion, actor=actor, audit=found.service.audit.write)
    body = {"enrollment_id": decided.enrollment_id, "org_id": decided.org_id, "state": decided.state}
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def _enroll(
    found: Runtime, admin: SignedInAdmin, form: Mapping[str, str], file: bytes | None, actor: Actor
) -> str:
    """The uploaded (.crt, PEM or DER) or pasted (PEM) certificate, through the registry's start (its
    policy, its audit): the code page."""
    text = form.get("certificate", "").strip()
    if file is None and not text:
        raise RequestError("choose the certificate file (.crt) or paste its content (PEM)")
    found_certificates = certificates_in(load_keystore(file if file is not None else text.encode("utf-8")))
    if len(found_certificates) != 1:
        raise KeyMaterialError(f"expected exactly one certificate, found {len(found_certificates)}")
    (_, uploaded) = found_certificates[0]
    started = await found.registry.enrollments.start(
        org_id=admin.org_id, user_id=admin.user_id, username=admin.username, certificate=uploaded, actor=actor
    )
    enrollment = started.enrollment
    return code_page(
        enrollment_id=enrollment.enrollment_id,
        org_id=enrollment.org_id,
        code=started.code,
        proof_url=found.registry.enrollments.proof_audience,
        expires=datetime.fromtimestamp(enrollment.code_expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        warnings=started.warnings,
    )


def _check_own_origin(request: Request, settings: Settings) -> None:
    """A form of these pages posts from this service's origin (their referrer policy keeps ``Origin``)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(settings):
        raise EnrollmentSignInFailed("the form was posted from another site")


def _own_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


#: (path, handler, method); ``/enroll/canvas/certificate`` before ``/enroll/canvas/{consumer_key}``.
ROUTES = (
    ("/enroll", start, "GET"),
    ("/enroll/callback", callback, "GET"),
    ("/enroll/certificate", certificate, "POST"),
    (CANVAS_ENTRY, canvas_sign_in, "POST"),
    (UPLOAD_PATH, canvas_certificate, "POST"),
    (CANVAS_ENTRY + "/{consumer_key}", canvas_sign_in, "POST"),
    (PROOF_PATH, proof, "POST"),
)
