"""The legacy Canvas path: ``POST /canvas`` (and ``/canvas/{consumer_key}``) and the landing page.

Salesforce POSTs ``signed_request`` into an iframe. A verified request opens a server-side session;
its cookie is ``HttpOnly; Secure; SameSite=None; Partitioned`` because it lives in a third-party
iframe (CHIPS), and the browser is sent 303 to the landing path.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from forcegate.core.canvas import DEFAULT_MAX_BYTES
from forcegate.errors import NoCredentials, SignedRequestTooLarge
from forcegate.server.pages import error_page, landing_page, page_headers
from forcegate.server.request import client_address, credentials, local_path, read_form
from forcegate.server.runtime import runtime
from forcegate.service.canvas import check_origin, open_canvas_session
from forcegate.service.credentials import session_cookie_header
from forcegate.service.tokens import end_session
from forcegate.settings import Settings

__all__ = ["MAX_CANVAS_BODY", "get_canvas", "landing", "logout", "post_canvas", "session_cookie_header"]

# The form body carries the signed request urlencoded: allow for the encoding overhead.
MAX_CANVAS_BODY = 3 * DEFAULT_MAX_BYTES


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
        origin=request.headers.get("origin"),
    )
    response = RedirectResponse(found.settings.canvas_landing_path, status_code=303)
    response.headers.append("set-cookie", session_cookie_header(login.session_id, found.settings))
    response.headers["cache-control"] = "no-store"
    return response


async def logout(request: Request) -> Response:
    """``POST /canvas/logout``: end this browser's Canvas session (the store forgets it) and drop the cookie."""
    found = runtime(request.scope)
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(found.settings):
        # Another site must not end the user's session either (SameSite=None cookies go along).
        check_origin(origin, found.settings.canvas_instance_domains)
    session = credentials(request.scope).session
    if session is not None:
        await end_session(
            found.service, session, endpoint=local_path(request.scope), client=client_address(request.scope)
        )
    response = HTMLResponse(
        error_page("Signed out", "The session is over. Open the app from Salesforce to sign in again."),
        headers=_page_headers(found.settings),
    )
    response.headers.append("set-cookie", session_cookie_header("", found.settings, max_age=0))
    return response


async def get_canvas(request: Request) -> Response:
    """A GET has nothing to verify; the OAuth Webflow access method gets a page saying what to change."""
    headers = _page_headers(runtime(request.scope).settings)
    if "_sfdc_canvas_authvalue" in request.query_params:
        message = (
            "Salesforce opened this Canvas app with the OAuth Webflow (GET) access method. forcegate "
            "verifies Signed Request (POST) only: in Setup, edit the Connected App, and under Canvas App "
            "Settings set Access Method to 'Signed Request (POST)'."
        )
        return HTMLResponse(error_page("Canvas access method not supported", message), status_code=400, headers=headers)
    return HTMLResponse(
        error_page("Canvas endpoint", "Salesforce POSTs a signed request here; a GET has nothing to verify."),
        status_code=405,
        headers={**headers, "allow": "POST"},
    )


async def landing(request: Request) -> Response:
    """The default landing page: who is signed in, and the custom parameters."""
    session = credentials(request.scope).session
    if session is None:
        raise NoCredentials("no session cookie")
    found = runtime(request.scope)
    identity = await found.service.authenticate_session(session)
    return HTMLResponse(landing_page(identity), headers=_page_headers(found.settings))


def _own_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


def _page_headers(settings: Settings) -> dict[str, str]:
    return dict(page_headers(settings.canvas_instance_domains))
