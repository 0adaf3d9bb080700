"""The legacy Canvas path: ``POST /canvas`` (and ``/canvas/{consumer_key}``) and the landing page.

Salesforce POSTs ``signed_request`` into an iframe. A verified request opens a server-side session;
its cookie is ``HttpOnly; Secure; SameSite=None; Partitioned`` because it lives in a third-party
iframe (CHIPS), and the browser is sent 303 to the landing path.
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from forcegate.core.canvas import DEFAULT_MAX_BYTES
from forcegate.errors import NoCredentials, SignedRequestTooLarge
from forcegate.server.pages import error_page, landing_page
from forcegate.server.request import client_address, credentials, local_path, read_form
from forcegate.server.runtime import runtime
from forcegate.service.canvas import open_canvas_session
from forcegate.service.credentials import SESSION_COOKIE
from forcegate.settings import Settings

__all__ = ["MAX_CANVAS_BODY", "get_canvas", "landing", "post_canvas", "session_cookie_header"]

# The form body carries the signed request urlencoded: allow for the encoding overhead.
MAX_CANVAS_BODY = 3 * DEFAULT_MAX_BYTES


def session_cookie_header(session_id: str, settings: Settings) -> str:
    """The ``Set-Cookie`` value, written out: the standard library (and so Starlette) learns the
    ``Partitioned`` attribute only in Python 3.14. The session id is URL-safe base64: no quoting needed."""
    attributes = [f"{SESSION_COOKIE}={session_id}", "Path=/", f"Max-Age={settings.session_lifetime}", "HttpOnly"]
    if settings.secure_cookies:
        # A third-party iframe (Salesforce's page embeds the app) needs SameSite=None, which needs
        # Secure; Partitioned (CHIPS) keeps the cookie usable where third-party cookies are blocked.
        attributes += ["Secure", "SameSite=None", "Partitioned"]
    else:
        attributes.append("SameSite=Lax")
    return "; ".join(attributes)


async def post_canvas(request: Request) -> Response:
    """Verify the signed request, open a session, and send the browser to the landing page."""
    found = runtime(request.scope)
    form = functools.partial(
        read_form, request.scope, request.receive, limit=MAX_CANVAS_BODY, too_large=SignedRequestTooLarge
    )
    login = await open_canvas_session(
        found.service,
        form,
        consumer_key=request.path_params.get("consumer_key"),
        endpoint=local_path(request.scope),
        client=client_address(request.scope),
    )
    response = RedirectResponse(found.settings.canvas_landing_path, status_code=303)
    response.headers.append("set-cookie", session_cookie_header(login.session_id, found.settings))
    response.headers["cache-control"] = "no-store"
    return response


async def get_canvas(request: Request) -> Response:
    """A GET has nothing to verify; the OAuth Webflow access method gets a page saying what to change."""
    if "_sfdc_canvas_authvalue" in request.query_params:
        message = (
            "Salesforce opened this Canvas app with the OAuth Webflow (GET) access method. forcegate "
            "verifies Signed Request (POST) only: in Setup, edit the Connected App, and under Canvas App "
            "Settings set Access Method to 'Signed Request (POST)'."
        )
        return HTMLResponse(error_page("Canvas access method not supported", message), status_code=400)
    return HTMLResponse(
        error_page("Canvas endpoint", "Salesforce POSTs a signed request here; a GET has nothing to verify."),
        status_code=405,
        headers={"allow": "POST"},
    )


async def landing(request: Request) -> Response:
    """The default landing page: who is signed in, and the custom parameters."""
    session = credentials(request.scope).session
    if session is None:
        raise NoCredentials("no session cookie")
    identity = await runtime(request.scope).service.authenticate_session(session)
    return HTMLResponse(landing_page(identity), headers={"cache-control": "no-store"})
