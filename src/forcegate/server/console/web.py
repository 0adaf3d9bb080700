"""What every console page shares: templates, security headers, the session cookie, CSRF, forms, and
the console's one error renderer.

* **Templates** are Jinja2 with autoescaping on for every template: a value from the registry or the
  audit log (an org name, a refusal's detail) can never become markup.
* **Headers**: ``Content-Security-Policy`` allows the console's own stylesheet and nothing else —
  no script at all, no inline style, no frame (``frame-ancestors 'none'``), forms to this origin
  only; ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, ``Cache-Control:
  no-store``; ``Strict-Transport-Security`` when the service is reached over TLS (an ``https``
  public URL).
* **The session cookie** holds a random id (its SHA-256 is in the database): ``HttpOnly;
  SameSite=Strict; Path=/``, and ``Secure`` (with the ``__Host-`` prefix) whenever
  ``settings.secure_cookies``.
* **CSRF**: every form carries the session's token (an HMAC of the session id,
  :func:`~forcegate.service.console_sign_in.csrf_token`), compared in constant time; the sign-in
  form, before any session, is bound the same way to a short-lived pre-session cookie.
* **Errors**: an endpoint raises; :func:`console_endpoint` renders a :class:`ForcegateError` as the
  console's error page (the operator is the admin: the reason is shown), and a missing or expired
  session as a redirect to the sign-in page.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from forcegate._security import secret_matches
from forcegate.errors import AuthenticationRequired, ForcegateError, RateLimited, RequestError
from forcegate.registry.activity import AGGREGATE_TTL, ActivityReports
from forcegate.registry.changes import AuditedChanges
from forcegate.registry.results import Actor
from forcegate.registry.views import iso
from forcegate.server.request import client_address, header, local_path
from forcegate.server.runtime import Runtime, runtime
from forcegate.service.console_sign_in import (
    SESSION_LIFETIME,
    ConsoleSignIn,
    SignInLimits,
    csrf_token,
    operator_credential,
)
from forcegate.settings import Settings
from forcegate.stores.console_rows import ConsoleSession

__all__ = [
    "LIMITS",
    "MAX_FORM_BYTES",
    "MAX_UPLOAD_BYTES",
    "Console",
    "Page",
    "console_endpoint",
    "console_of",
    "cookie_name",
    "read_form",
    "redirect",
    "render",
    "security_headers",
]

MAX_FORM_BYTES = 300 * 1024  # the debugger's pasted text (256 KiB) and the form around it
MAX_UPLOAD_BYTES = 1024 * 1024 + 64 * 1024  # a keystore (1 MiB, as forcegate certs add) and its form
PRE_SESSION_COOKIE = "forcegate_console_pre"
#: The sign-in policy's bounds, and how its slow-down waits; tests may replace them before the first request.
LIMITS = SignInLimits()
SLEEP: Callable[[float], Awaitable[None]] = asyncio.sleep

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("forcegate.server.console", "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M")


def _days_from(moment: float, now: float) -> str:
    days = int((moment - now) // 86400)
    return "today" if days < 1 else f"in {days} day{'' if days == 1 else 's'}"


def _query(values: Mapping[str, object]) -> str:
    return urlencode({key: str(value) for key, value in values.items() if value not in (None, "")})


_ENVIRONMENT.filters.update(iso=iso, when=_when, days_from=_days_from, query=_query)


@dataclass(frozen=True, slots=True)
class Console:
    """The console's services for one runtime: the sign-in policy, the reports, the audited changes."""

    runtime: Runtime
    sign_in: ConsoleSignIn
    reports: ActivityReports
    changes: AuditedChanges


def console_of(request: Request) -> Console:
    """The console services of the runtime serving ``request`` (built once per runtime)."""
    found = runtime(request.scope)
    state = request.app.state
    current: Console | None = getattr(state, "forcegate_console", None)
    if current is None or current.runtime is not found:
        service = found.service
        current = Console(
            found,
            ConsoleSignIn(service.stores, clock=service.clock, limits=LIMITS, sleep=SLEEP),
            ActivityReports(service.stores, clock=service.clock, cache_seconds=AGGREGATE_TTL),
            AuditedChanges(found.registry, service.stores.audit, clock=service.clock),
        )
        state.forcegate_console = current
    return current


@dataclass(frozen=True, slots=True)
class Page:
    """A signed-in request: the console services, the session, its CSRF token, and who acts."""

    console: Console
    session: ConsoleSession
    csrf: str
    request: Request

    @property
    def actor(self) -> Actor:
        return Actor(
            entry=local_path(self.request.scope),
            credential=operator_credential(self.session.operator),
            client=client_address(self.request.scope),
        )


# --- headers and cookies -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _headers(tls: bool) -> tuple[tuple[str, str], ...]:
    policy = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    headers = [
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),  # for browsers that predate frame-ancestors
        ("cross-origin-opener-policy", "same-origin"),
    ]
    if tls:
        headers.append(("strict-transport-security", "max-age=31536000"))
    return tuple(headers)


def security_headers(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The headers of every console response (see the module docstring)."""
    return _headers(urlsplit(settings.public_url).scheme == "https")


def cookie_name(settings: Settings) -> str:
    # __Host-: the browser keeps it only if Secure, for this host, Path=/ (no subdomain can set it).
    return "__Host-forcegate_console" if settings.secure_cookies else "forcegate_console"


def _cookie(settings: Settings, name: str, value: str, max_age: int) -> str:
    attributes = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if settings.secure_cookies:
        attributes.append("Secure")
    return "; ".join(attributes)


def session_cookie(settings: Settings, session_id: str, *, max_age: int = SESSION_LIFETIME) -> str:
    return _cookie(settings, cookie_name(settings), session_id, max_age)


def pre_session_cookie(settings: Settings, value: str, *, max_age: int = 3600) -> str:
    return _cookie(settings, PRE_SESSION_COOKIE, value, max_age)


def new_pre_session() -> str:
    return secrets.token_urlsafe(32)


# --- rendering ---------------------------------------------------------------------------------------


def render(
    request: Request, template: str, context: Mapping[str, Any], *, status: int = 200, page: Page | None = None
) -> HTMLResponse:
    settings = runtime(request.scope).settings
    values = {
        "operator": None if page is None else page.session.operator,
        "csrf": "" if page is None else page.csrf,
        "path": local_path(request.scope),
        **context,
    }
    response = HTMLResponse(_ENVIRONMENT.get_template(template).render(values), status_code=status)
    response.headers.update(dict(security_headers(settings)))
    return response


def redirect(request: Request, path: str, **query: str) -> Response:
    """A 303 to a console path (never a URL from input), with the console's headers."""
    target = path + (f"?{urlencode(query)}" if query else "")
    response = RedirectResponse(target, status_code=303)
    response.headers.update(dict(security_headers(runtime(request.scope).settings)))
    return response


def _error_page(request: Request, exc: ForcegateError, *, signed_in: bool) -> Response:
    status = 403 if exc.code == "csrf_refused" else exc.status
    back = local_path(request.scope) if request.method == "GET" else _back(request)
    response = render(
        request,
        "error.html",
        {"title": _title(exc), "code": exc.code, "reason": exc.reason, "back": back, "signed_in": signed_in},
        status=status,
    )
    if isinstance(exc, RateLimited):
        response.headers["retry-after"] = str(exc.retry_after)
    return response


def _title(exc: ForcegateError) -> str:
    if exc.code == "csrf_refused":
        return "This form has expired"
    if isinstance(exc, RateLimited):
        return "Too many attempts"
    if exc.status == 404:
        return "Not found"
    return "The request was refused"


def _back(request: Request) -> str:
    """The page a refused form came from: the section of the form's target (an org's own page for its forms)."""
    parts = local_path(request.scope).strip("/").split("/")  # console, section, ...
    if len(parts) >= 3 and parts[1] == "orgs":
        return f"/console/orgs/{parts[2]}"
    return "/console/" + parts[1] if len(parts) >= 2 else "/console"


class CsrfRefused(RequestError):
    """A console form without this session's CSRF token (another site's forged post, or a stale page).

    A console-local refusal: rendered only by :func:`console_endpoint`, as 403."""

    code = "csrf_refused"  # a console-local code, never reaching the OAuth edges


# --- forms -------------------------------------------------------------------------------------------


async def read_form(request: Request, *, limit: int = MAX_FORM_BYTES) -> FormData:
    """The posted form (urlencoded or multipart), its size bounded before it is parsed."""
    length = header(request.scope, b"content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise RequestError(f"the form is larger than {limit} bytes")
    kind = (header(request.scope, b"content-type") or b"").split(b";", 1)[0].strip().lower()
    if kind not in (b"application/x-www-form-urlencoded", b"multipart/form-data"):
        raise RequestError("a console form is application/x-www-form-urlencoded or multipart/form-data")
    try:
        return await request.form(max_files=1, max_fields=32, max_part_size=limit)
    except ForcegateError:
        raise
    except Exception as exc:  # Starlette's and python-multipart's refusals of a malformed body
        raise RequestError(f"the form cannot be read: {type(exc).__name__}") from None


def field(form: FormData, name: str, *, default: str = "") -> str:
    value = form.get(name, default)
    if not isinstance(value, str):
        raise RequestError(f"field {name!r} is not text")
    return value


def check_csrf(form: FormData, expected: str) -> None:
    if not secret_matches(field(form, "csrf"), expected):
        raise CsrfRefused("the form's security token does not match this session: reload the page and try again")


# --- the endpoint wrapper ----------------------------------------------------------------------------

Handler = Callable[[Page], Awaitable[Response]]


def console_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in console page: the session is loaded (else a redirect to sign in), a POST's CSRF
    token checked before the handler runs, and a refusal rendered as the console's error page."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        console = console_of(request)
        settings = console.runtime.settings
        try:
            session_id = request.cookies.get(cookie_name(settings))
            session = await console.sign_in.session(session_id)
        except AuthenticationRequired:
            if request.method != "GET":
                # A post without a live session is refused, not redirected: nothing it asked is done.
                ended = CsrfRefused("not signed in to the console (or the session ended)")
                return _error_page(request, ended, signed_in=False)
            return redirect(request, "/console/sign-in")
        assert session_id is not None
        page = Page(console, session, csrf_token(session_id), request)
        try:
            return await handler(page)
        except ForcegateError as exc:
            return _error_page(request, exc, signed_in=True)

    return endpoint


def public_endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A page without a session (the sign-in page): a refusal is rendered as the console's error page."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ForcegateError as exc:
            return _error_page(request, exc, signed_in=False)

    return endpoint


def static_file(name: str) -> bytes:
    return resources.files("forcegate.server.console").joinpath("static", name).read_bytes()
