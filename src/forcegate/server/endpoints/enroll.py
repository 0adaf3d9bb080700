"""``/enroll``: a subscriber admin enrolls their org's certificate (docs/onboarding.md).

* ``GET /enroll`` — where to sign in; ``GET /enroll?login=HOST`` starts the Salesforce sign-in (303 to
  the login host's authorize endpoint, the browser's value in the ``forcegate_enroll`` cookie);
* ``GET /enroll/callback`` — Salesforce sends the admin back: the code is exchanged, the admin check
  made, and the upload page shown;
* ``POST /enroll/certificate`` — the certificate (PEM, pasted): the registry starts the enrollment and
  the page shows the one-time enrollment code;
* ``POST /enroll/proof`` — the org's proof of possession (form ``assertion``), answered in JSON.

Adapters only: the sign-in is :class:`~forcegate.service.enrollment_sign_in.EnrollmentSignIn`'s, the
enrollment the registry's (:mod:`forcegate.registry.enrollment`); refusals are rendered by the
application (an HTML page on the browser's paths, RFC 6749 §5.2 JSON for the proof).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from forcegate.errors import EnrollmentSignInFailed, KeyMaterialError, RequestError
from forcegate.keys import load_keystore
from forcegate.registry import Actor, certificates_in
from forcegate.registry.enrollment import PROOF_PATH
from forcegate.server.enroll_pages import code_page, enroll_headers, start_page, upload_page
from forcegate.server.request import client_address, read_form
from forcegate.server.runtime import Runtime, runtime
from forcegate.service.enrollment_sign_in import SIGNED_IN_SECONDS, EnrollmentSignIn, form_token
from forcegate.settings import Settings

__all__ = ["COOKIE", "ROUTES", "callback", "certificate", "proof", "start"]

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


def _page(body: str, settings: Settings, *, cookie: str | None = None) -> Response:
    response = HTMLResponse(body, headers=dict(enroll_headers(settings)))
    if cookie is not None:
        response.headers.append("set-cookie", cookie)
    return response


async def start(request: Request) -> Response:
    found = runtime(request.scope)
    sign_in = _sign_in(found)
    login = request.query_params.get("login")
    if login is None:
        if not found.settings.enrollment_enabled:
            raise EnrollmentSignInFailed("enrollment by Salesforce sign-in is not configured here")
        return _page(start_page(found.settings.enrollment_login_hosts), found.settings)
    browser_value, authorize_url = await sign_in.begin(login)
    response = RedirectResponse(authorize_url, status_code=303, headers=dict(enroll_headers(found.settings)))
    response.headers.append("set-cookie", _cookie(browser_value, found.settings, max_age=SIGNED_IN_SECONDS))
    return response


async def callback(request: Request) -> Response:
    found = runtime(request.scope)
    params = request.query_params
    browser_value = request.cookies.get(COOKIE)
    admin = await _sign_in(found).complete(
        browser_value,
        state=params.get("state"),
        code=params.get("code"),
        error=params.get("error"),
        client=client_address(request.scope),
    )
    assert browser_value is not None  # complete() refuses a browser without one
    return _page(upload_page(admin.org_id, admin.username, form_token(browser_value)), found.settings)


async def certificate(request: Request) -> Response:
    found = runtime(request.scope)
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(found.settings):
        raise EnrollmentSignInFailed("the form was posted from another site")
    form = await read_form(request.scope, request.receive, limit=_MAX_CERTIFICATE_FORM)
    browser_value = request.cookies.get(COOKIE)
    sign_in = _sign_in(found)
    admin = await sign_in.signed_in(browser_value, form=form.get("form_token", ""))
    text = form.get("certificate", "").strip()
    if not text:
        raise RequestError("paste the certificate (PEM)")
    found_certificates = certificates_in(load_keystore(text.encode("utf-8")))
    if len(found_certificates) != 1:
        raise KeyMaterialError(f"expected exactly one certificate, found {len(found_certificates)}")
    (_, uploaded) = found_certificates[0]
    actor = Actor(entry="/enroll/certificate", credential="salesforce-sign-in", client=client_address(request.scope))
    started = await found.registry.enrollments.start(
        org_id=admin.org_id, user_id=admin.user_id, username=admin.username, certificate=uploaded, actor=actor
    )
    await sign_in.end(browser_value)  # one enrollment per sign-in
    enrollment = started.enrollment
    body = code_page(
        enrollment_id=enrollment.enrollment_id,
        org_id=enrollment.org_id,
        code=started.code,
        proof_url=found.registry.enrollments.proof_audience,
        expires=datetime.fromtimestamp(enrollment.code_expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        warnings=started.warnings,
    )
    return _page(body, found.settings, cookie=_cookie("", found.settings, max_age=0))


async def proof(request: Request) -> Response:
    found = runtime(request.scope)
    form = await read_form(request.scope, request.receive, limit=_MAX_PROOF_FORM)
    assertion = form.get("assertion")
    if not assertion:
        raise RequestError("the form carries no assertion")
    actor = Actor(entry=PROOF_PATH, credential="enrollment-proof", client=client_address(request.scope))
    decided = await found.registry.enrollments.prove(assertion, actor=actor, audit=found.service.audit.write)
    body = {"enrollment_id": decided.enrollment_id, "org_id": decided.org_id, "state": decided.state}
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _own_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


#: (path, handler, method)
ROUTES = (
    ("/enroll", start, "GET"),
    ("/enroll/callback", callback, "GET"),
    ("/enroll/certificate", certificate, "POST"),
    (PROOF_PATH, proof, "POST"),
)
