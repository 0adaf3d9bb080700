"""``/console/sign-in`` and ``/console/sign-out``, the stylesheet, and the service's root page ``/``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forcegate._security import secret_matches
from forcegate.errors import AuthenticationRequired, RateLimited
from forcegate.server.console.web import (
    PRE_SESSION_COOKIE,
    CsrfRefused,
    Page,
    console_endpoint,
    console_of,
    cookie_name,
    field,
    new_pre_session,
    pre_session_cookie,
    public_endpoint,
    read_form,
    redirect,
    render,
    security_headers,
    session_cookie,
    static_file,
)
from forcegate.server.request import client_address
from forcegate.server.runtime import runtime
from forcegate.service.console_sign_in import csrf_token

__all__ = ["root", "sign_in", "sign_in_page", "sign_out", "stylesheet"]


def _sign_in_form(request: Request, *, error: str = "", status: int = 200, name: str = "") -> Response:
    settings = console_of(request).runtime.settings
    pre = request.cookies.get(PRE_SESSION_COOKIE) or ""
    fresh = len(pre) < 32
    if fresh:
        pre = new_pre_session()
    # The one notice this page shows (after signing out); nothing from the query is ever echoed.
    notice = "You are signed out." if request.query_params.get("notice") == "signed_out" and not error else ""
    context = {"csrf": csrf_token(pre), "error": error, "name": name, "title": "Sign in", "notice": notice}
    response = render(request, "sign_in.html", context, status=status)
    if fresh:
        response.headers.append("set-cookie", pre_session_cookie(settings, pre))
    return response


@public_endpoint
async def sign_in_page(request: Request) -> Response:
    console = console_of(request)
    if request.cookies.get(cookie_name(console.runtime.settings)):
        try:
            await console.sign_in.session(request.cookies.get(cookie_name(console.runtime.settings)))
        except AuthenticationRequired:
            pass
        else:
            return redirect(request, "/console")
    return _sign_in_form(request)


@public_endpoint
async def sign_in(request: Request) -> Response:
    """Check the form's CSRF binding, then the password or the admin token (the policy is the service's)."""
    console = console_of(request)
    settings = console.runtime.settings
    form = await read_form(request)
    pre = request.cookies.get(PRE_SESSION_COOKIE)
    if not pre or not secret_matches(field(form, "csrf"), csrf_token(pre)):
        raise CsrfRefused("the sign-in form has expired or was not served here: reload the sign-in page")
    client = client_address(request.scope)
    name = field(form, "name")
    try:
        if field(form, "method") == "token":
            signed_in = await console.sign_in.sign_in_token(field(form, "token").strip(), client=client)
        else:
            signed_in = await console.sign_in.sign_in_password(name, field(form, "password"), client=client)
    except RateLimited as exc:
        response = _sign_in_form(request, error=exc.reason, status=429, name=name)
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    except AuthenticationRequired:
        # The same words for a wrong name, password or token: the page tells nothing to a guesser.
        return _sign_in_form(
            request, error="Sign-in failed: check the name and password, or the token.", status=401, name=name
        )
    response = redirect(request, "/console")
    response.headers.append("set-cookie", session_cookie(settings, signed_in.session_id))
    response.headers.append("set-cookie", pre_session_cookie(settings, "", max_age=0))
    return response


@console_endpoint
async def sign_out(page: Page) -> Response:
    await page.console.sign_in.sign_out(page.session)
    response = redirect(page.request, "/console/sign-in", notice="signed_out")
    response.headers.append("set-cookie", session_cookie(page.console.runtime.settings, "", max_age=0))
    return response


async def stylesheet(request: Request) -> Response:
    response = Response(static_file("console.css"), media_type="text/css")
    response.headers.update(dict(security_headers(runtime(request.scope).settings)))
    response.headers["cache-control"] = "public, max-age=3600"
    return response


async def root(request: Request) -> Response:
    """``/``: what this service is, and where its console, API description and docs are."""
    return render(request, "root.html", {"title": "forcegate"})
