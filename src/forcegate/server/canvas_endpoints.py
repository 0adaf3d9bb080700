"""The legacy Canvas path: ``POST /canvas`` (and ``/canvas/{consumer_key}``) and the landing page.

Salesforce POSTs ``signed_request`` into an iframe. A verified request opens a server-side session;
its cookie is ``HttpOnly; Secure; SameSite=None; Partitioned`` because it lives in a third-party
iframe (CHIPS), and the browser is sent 303 to the landing path.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from forcegate.core.canvas import DEFAULT_MAX_BYTES
from forcegate.errors import (
    CanvasOrgRefused,
    ForcegateError,
    RequestError,
    SalesforceUnavailable,
    SignedRequestTooLarge,
    StoreUnavailable,
)
from forcegate.server.forms import read_form, single
from forcegate.server.pages import error_page, landing_page
from forcegate.server.service import SESSION_COOKIE, Service
from forcegate.settings import Settings

__all__ = ["canvas_routes"]

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


def _status(exc: ForcegateError) -> int:
    """503 store or Salesforce down, 413 too large, 403 org refused, 400 malformed form, 401 any other refusal."""
    if isinstance(exc, StoreUnavailable | SalesforceUnavailable | SignedRequestTooLarge | CanvasOrgRefused):
        return exc.status
    return 400 if isinstance(exc, RequestError) else 401


def canvas_routes(service: Service) -> list[Route]:
    settings = service.settings

    async def post_canvas(request: Request) -> Response:
        consumer_key = request.path_params.get("consumer_key")
        client = request.client.host if request.client else None
        try:
            fields = await read_form(request, limit=MAX_CANVAS_BODY, too_large=SignedRequestTooLarge)
            signed_request = single(fields, "signed_request")
            assert signed_request is not None
            login = await service.canvas_login(signed_request, consumer_key=consumer_key)
            identity = login.identity
            await service.audit.write(
                service.audit.event(
                    endpoint=request.url.path,
                    credential="canvas",
                    org_id=identity.org_id,
                    user_id=identity.user_id,
                    subject=identity.username,
                    issuer=identity.issuer,
                    client=client,
                )
            )
        except ForcegateError as exc:
            return await _refuse(request, exc, client)
        response = RedirectResponse(settings.canvas_landing_path, status_code=303)
        response.headers.append("set-cookie", session_cookie_header(login.session_id, settings))
        response.headers["cache-control"] = "no-store"
        return response

    async def _refuse(request: Request, exc: ForcegateError, client: str | None) -> Response:
        status = _status(exc)
        try:
            await service.audit.write(
                service.audit.event(endpoint=request.url.path, credential="canvas", error=exc, client=client)
            )
        except ForcegateError:
            status = 503
        message = "The signed request could not be accepted."
        if settings.development:
            message += f" ({exc.code}: {exc.reason})"
        return HTMLResponse(
            error_page("Canvas request refused", message), status_code=status, headers={"cache-control": "no-store"}
        )

    async def get_canvas(request: Request) -> Response:
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
        session_id = request.cookies.get(SESSION_COOKIE)
        try:
            if not session_id:
                raise ForcegateError("no session cookie")
            identity = await service.authenticate_session(session_id)
        except StoreUnavailable:
            return HTMLResponse(error_page("Unavailable", "Try again shortly."), status_code=503)
        except ForcegateError:
            return HTMLResponse(
                error_page("Not signed in", "Open this app from Salesforce: there is no Canvas session here."),
                status_code=401,
            )
        return HTMLResponse(landing_page(identity), headers={"cache-control": "no-store"})

    routes = [
        Route("/canvas", post_canvas, methods=["POST"]),
        Route("/canvas", get_canvas, methods=["GET"]),
    ]
    if settings.canvas_landing_path == "/canvas/app":
        routes.append(Route("/canvas/app", landing, methods=["GET"]))
    routes += [
        Route("/canvas/{consumer_key}", post_canvas, methods=["POST"]),
        Route("/canvas/{consumer_key}", get_canvas, methods=["GET"]),
    ]
    if settings.canvas_landing_path != "/canvas/app":
        routes.append(Route(settings.canvas_landing_path, landing, methods=["GET"]))
    return routes
