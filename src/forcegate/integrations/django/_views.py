"""The Canvas views: Salesforce's ``signed_request`` POST opens a forcegate session, the logout ends it.

Sessions follow decision 0009 in Django too: server-side in the service's registry (the cookie holds
32 random bytes, the store their SHA-256), ``HttpOnly; Secure; SameSite=None; Partitioned``, ended as
soon as their trust ends — never Django's own session cookie (``django.contrib.sessions``), whose
``SameSite=Lax`` default is not sent in Salesforce's third-party iframe and which cannot be
``Partitioned``. The ``Set-Cookie`` value comes whole from the verifier and is sent as a raw header.
"""

from __future__ import annotations

from html import escape

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from forcegate.integrations._web import PAGE_HEADERS, canvas_opened, check_logout_origin, page_answer, signed_out
from forcegate.integrations.django._config import get_config, registry_verifier
from forcegate.integrations.django._http import answer_response, client_address
from forcegate.integrations.django._middleware import forcegate_exempt
from forcegate.resource import SESSION_COOKIE, Refusal

__all__ = ["canvas_view", "logout_view"]


@csrf_exempt  # Salesforce's POST is cross-site by design: the signature and the Origin check stand in
@xframe_options_exempt  # its refusal page is shown in Salesforce's iframe
@forcegate_exempt  # a stale session cookie must not stop a new Canvas login
@never_cache
def canvas_view(request: HttpRequest, consumer_key: str | None = None) -> HttpResponse:
    """``POST`` Salesforce's ``signed_request``: open a forcegate session, set its cookie, 303 to the landing URL.

    Route it where the Canvas app's URL points (``path("canvas/", canvas_view)``); with a
    ``consumer_key`` URL argument (``path("canvas/<str:consumer_key>/", canvas_view)``) only that app's
    secrets are tried. A refusal is a small HTML page with the refusal's status (400 malformed, 401 not
    signed by a trusted app, 403 an ``Origin`` that is not Salesforce's, 429, 503).
    """
    verifier = registry_verifier()
    if request.method != "POST":
        return _not_a_post(request)
    try:
        session = verifier.open_canvas_session(
            request.POST.dict(),
            consumer_key=consumer_key,
            origin=request.headers.get("Origin"),
            client=client_address(request),
            endpoint=request.path,
        )
    except Refusal as refused:
        return answer_response(page_answer(refused))
    # The Set-Cookie header is forcegate's, raw: Django's set_cookie cannot write Partitioned.
    return answer_response(canvas_opened(session, get_config().canvas_landing_url))


@csrf_exempt  # Django's CSRF cookie is not sent in Salesforce's iframe either: the Origin check stands in
@xframe_options_exempt
@forcegate_exempt  # logging out with a session that already ended is not an error
@never_cache
def logout_view(request: HttpRequest) -> HttpResponse:
    """``POST``: end this browser's Canvas session in the registry and drop its cookie.

    Then 303 to ``LOGOUT_REDIRECT_URL``, or a "Signed out" page when it is None. A POST whose
    ``Origin`` is neither this site nor a Salesforce page is refused (403): another site must not end
    the user's session (the cookie is ``SameSite=None``, so it would go along).
    """
    verifier = registry_verifier()
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    session = request.COOKIES.get(SESSION_COOKIE) or None
    try:
        check_logout_origin(
            request.headers.get("Origin"), own_origin=f"{request.scheme}://{request.get_host()}", verifier=verifier
        )
        cleared = (
            verifier.end_session(session, client=client_address(request), endpoint=request.path)
            if session is not None
            else verifier.clear_cookie
        )
    except Refusal as refused:
        return answer_response(page_answer(refused))
    return answer_response(signed_out(cleared, get_config().logout_redirect_url))


def _not_a_post(request: HttpRequest) -> HttpResponse:
    """A GET has nothing to verify; the OAuth Webflow access method gets a page saying what to change."""
    if "_sfdc_canvas_authvalue" in request.GET:
        message = (
            "Salesforce opened this Canvas app with the OAuth Webflow (GET) access method. forcegate "
            "verifies Signed Request (POST) only: in Setup, edit the Connected App, and under Canvas App "
            "Settings set Access Method to 'Signed Request (POST)'."
        )
        return _page(400, "Canvas access method not supported", message)
    response = _page(405, "Canvas endpoint", "Salesforce POSTs a signed request here; a GET has nothing to verify.")
    response["Allow"] = "POST"
    return response


def _page(status: int, title: str, message: str) -> HttpResponse:
    body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )
    response = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
    for name, value in PAGE_HEADERS:
        response[name] = value
    return response
