"""forcegate for Flask: the ``Forcegate`` extension (docs/flask.md).

::

    from flask import Flask, g
    from forcegate.integrations.flask import Forcegate

    app = Flask(__name__)
    app.config["FORCEGATE"] = {"JWKS": {"issuer": "https://auth.example.com"}}
    forcegate = Forcegate(app)

    @app.get("/orders")
    @forcegate.required(scopes=["orders:read"])
    def orders():
        return {"org": g.forcegate.org_id}

``app.config["FORCEGATE"]`` names the verifier, exactly one of (:func:`forcegate.integrations._web.choose_verifier`):
``{"JWKS": {...}}`` (:class:`~forcegate.resource.JWKSVerifier`'s keyword arguments: the app verifies
the service's access tokens with its published keys), ``{"REGISTRY": {...}}`` (forcegate settings over
the ``FORCEGATE_*`` environment: the app shares the service's registry and takes access tokens, Apex
JWTs sent directly and Canvas sessions) or ``{"VERIFIER": …}``. The verifier is built by
:meth:`Forcegate.init_app` — once per app, which is once per process; it opens nothing before its first
call, so a pre-fork server may fork after it — and it closes itself at interpreter exit.

A refusal is a :class:`~forcegate.resource.Refusal`, which the extension's error handler answers as
forcegate's own API does: its status, its JSON body (``error``; ``error_description`` and ``code`` when
safe to tell), ``WWW-Authenticate`` (RFC 6750) and ``Cache-Control: no-store``; an HTML page of the same
status for the views that face a browser (``required(page=True)``, the Canvas views).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

from forcegate._extras import missing_extra

try:
    from flask import Blueprint, Flask, Response, current_app, g, request, url_for
    from flask.blueprints import BlueprintSetupState
except ImportError as exc:  # without the extra: say which one to install
    raise missing_extra("forcegate.integrations.flask", "flask", exc.name or "flask") from exc

from forcegate.core.identity import Identity
from forcegate.integrations._web import (
    Answer,
    canvas_opened,
    check_local_path,
    check_logout_origin,
    choose_verifier,
    json_answer,
    origin_of,
    page_answer,
    registry_of,
    same_site_session,
    signed_out,
)
from forcegate.resource import SESSION_COOKIE, Refusal, RegistryVerifier, Verifier

__all__ = ["Forcegate"]

log = logging.getLogger("forcegate.integrations.flask")

# app.config[_CONFIG_KEY]: which verifier; app.extensions[_EXTENSION_KEY]: the app's (Forcegate.get_verifier).
_CONFIG_KEY = "FORCEGATE"
_EXTENSION_KEY = "forcegate"

F = TypeVar("F", bound=Callable[..., Any])

# What a view that verifies by itself (a required view, a Canvas view) carries: whether its refusals are a
# page. The every-request hook leaves such views alone; functools.wraps copies the mark along.
_MARK = "_forcegate_view"
# In every-request mode: the identity verified (without scopes) or the refusal, for this request.
_CHECKED = "_forcegate_checked"


@dataclass(frozen=True, slots=True)
class _View:
    page: bool


@dataclass(frozen=True, slots=True)
class _State:
    verifier: Verifier
    owned: bool


class Forcegate:
    """The Flask extension: ``Forcegate(app)``, or ``Forcegate()`` then :meth:`init_app` (an app factory).

    ``verifier``: a verifier to use for every app instead of ``app.config["FORCEGATE"]`` (it is the
    caller's to close). ``every_request``: verify the credentials of every request before its view and
    set ``g.forcegate`` — the :class:`~forcegate.core.Identity`, or None when the request carries no
    credential or one that is refused (the refusal is logged; views decorated with :meth:`required`
    still refuse it). Without it, ``g.forcegate`` is set by :meth:`required` only.
    """

    def __init__(self, app: Flask | None = None, *, verifier: Verifier | None = None, every_request: bool = False):
        self._verifier = verifier
        self.every_request = every_request
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build ``app``'s verifier from ``app.config["FORCEGATE"]`` and register the refusal handler.

        :class:`~forcegate.errors.ConfigurationError` when the setting is missing or wrong.
        """
        if _EXTENSION_KEY in app.extensions:
            raise RuntimeError("forcegate is already initialised on this app")
        if self._verifier is not None:
            state = _State(self._verifier, owned=False)
        else:
            choice = choose_verifier(app.config.get(_CONFIG_KEY), where=f"app.config[{_CONFIG_KEY!r}]")
            state = _State(choice.build(), owned=choice.owned)
        app.extensions[_EXTENSION_KEY] = state
        app.register_error_handler(Refusal, _render_refusal)
        if self.every_request:
            app.before_request(_verify_every_request)

    def get_verifier(self, app: Flask | None = None) -> Verifier:
        """The verifier of ``app`` (default: the current app): to call it yourself, or check its kind."""
        return _state(app).verifier

    def close(self, app: Flask | None = None) -> None:
        """Close ``app``'s verifier (write its queued audit rows, close its connections) if it built it.

        Not needed in a server process: the verifier closes itself at interpreter exit. Never per
        request — the verifier is the process's.
        """
        state = _state(app)
        if state.owned:
            state.verifier.close()

    # --- protecting views -------------------------------------------------------------------------------

    @overload
    def required(self, view: F, /) -> F: ...

    @overload
    def required(self, /, *, scopes: str | Collection[str] = (), page: bool = False) -> Callable[[F], F]: ...

    def required(
        self, view: Callable[..., Any] | None = None, /, *, scopes: str | Collection[str] = (), page: bool = False
    ) -> Any:
        """Decorate a view: it runs only for a verified credential with every one of ``scopes``.

        The identity is ``g.forcegate`` inside the view. The credential is the ``Authorization``
        header (an access token, or a direct Apex JWT with a ``REGISTRY`` verifier), else the Canvas
        session cookie (``REGISTRY``). A refusal raises :class:`~forcegate.resource.Refusal`, answered
        as JSON (401 ``invalid_token`` or 400 with ``WWW-Authenticate``, 403 ``insufficient_scope`` …),
        or as an HTML page of the same status with ``page=True`` (a page a browser opens, such as a
        Canvas landing page). ``@forcegate.required`` alone requires no scope. Works on ``async`` views.
        """
        wanted = (scopes,) if isinstance(scopes, str) else tuple(scopes)
        mark = _View(page)

        def decorate(view: F) -> F:
            if inspect.iscoroutinefunction(view):

                @functools.wraps(view)
                async def averified(*args: Any, **kwargs: Any) -> Any:
                    g.forcegate = await _averify(wanted)
                    return await view(*args, **kwargs)

                wrapper: Callable[..., Any] = averified
            else:

                @functools.wraps(view)
                def verified(*args: Any, **kwargs: Any) -> Any:
                    g.forcegate = _verify(wanted)
                    return view(*args, **kwargs)

                wrapper = verified
            setattr(wrapper, _MARK, mark)
            return cast(F, wrapper)

        return decorate(view) if view is not None else decorate

    # --- Canvas -----------------------------------------------------------------------------------------

    def canvas_blueprint(
        self,
        landing: str,
        *,
        after_logout: str | None = None,
        name: str = "forcegate_canvas",
        url_prefix: str = "/canvas",
    ) -> Blueprint:
        """The Canvas views, as a blueprint to register after :meth:`init_app` (the verifier: ``REGISTRY``).

        * ``POST {url_prefix}`` (and ``{url_prefix}/<consumer_key>``, which checks only that app's
          secrets): Salesforce's signed request; a verified one opens a forcegate session and the
          browser is sent to ``landing`` (an endpoint name for ``url_for``, or a path starting with
          ``/``) with 303 and the session cookie, written as forcegate writes it (decision 0009:
          server-side, ``HttpOnly; Secure; SameSite=None; Partitioned``; never Flask's session cookie).
          A refusal is an HTML page with its status (400, 401, 403 …). This view takes a cross-site
          POST by design: exempt the blueprint from a CSRF extension (Flask-WTF: ``csrf.exempt(bp)``);
          the signature and the ``Origin`` check stand in for it.
        * ``POST {url_prefix}/logout``: ends the session and removes the cookie, then a "Signed out"
          page, or 303 to ``after_logout``. Refused (403) when POSTed from another site's page.

        The landing page reads the session with ``@forcegate.required(page=True)``.
        """
        for target in (landing, after_logout):
            if target is not None and ("/" in target or ":" in target or "\\" in target):
                check_local_path(target, what="a Canvas redirect target")  # not an endpoint name: a path here
        blueprint = Blueprint(name, __name__, url_prefix=url_prefix)

        def post_canvas(consumer_key: str | None = None) -> Response:
            verifier = _registry()
            session = verifier.open_canvas_session(
                request.form.to_dict(),
                consumer_key=consumer_key,
                origin=request.headers.get("Origin"),
                client=request.remote_addr,
                endpoint=request.path,
            )
            return _response(canvas_opened(session, _location(landing)))

        def logout() -> Response:
            verifier = _registry()
            check_logout_origin(
                request.headers.get("Origin"), own_origin=origin_of(request.host_url), verifier=verifier
            )
            session = request.cookies.get(SESSION_COOKIE) or None
            cleared = (
                verifier.end_session(session, client=request.remote_addr, endpoint=request.path)
                if session is not None
                else verifier.clear_cookie
            )
            return _response(signed_out(cleared, None if after_logout is None else _location(after_logout)))

        for view in (post_canvas, logout):
            setattr(view, _MARK, _View(page=True))
        blueprint.add_url_rule("", "canvas", post_canvas, methods=["POST"])
        blueprint.add_url_rule("/logout", "logout", logout, methods=["POST"])
        blueprint.add_url_rule("/<consumer_key>", "canvas_app", post_canvas, methods=["POST"])
        blueprint.record_once(_check_canvas_app)
        return blueprint


# --- the request's side ---------------------------------------------------------------------------------


def _state(app: Flask | None = None) -> _State:
    found = (app if app is not None else current_app).extensions.get(_EXTENSION_KEY)
    if not isinstance(found, _State):
        raise RuntimeError("forcegate is not initialised on this app: Forcegate(app) or forcegate.init_app(app)")
    return found


def _registry() -> RegistryVerifier:
    return registry_of(_state().verifier, where=f"app.config[{_CONFIG_KEY!r}]")


def _check_canvas_app(setup: BlueprintSetupState) -> None:
    """At registration: the Canvas views need the extension, with a verifier that can open sessions."""
    registry_of(_state(cast(Flask, setup.app)).verifier, where=f"app.config[{_CONFIG_KEY!r}]")


def _credentials() -> tuple[str | None, str | None]:
    """The ``Authorization`` header as sent, and the session cookie unless a cross-origin unsafe request
    brought it (:func:`~forcegate.integrations._web.same_site_session`: login and action CSRF)."""
    session = same_site_session(
        request.cookies.get(SESSION_COOKIE) or None,
        method=request.method,
        origin=request.headers.get("Origin"),
        fetch_site=request.headers.get("Sec-Fetch-Site"),
        own_origin=origin_of(request.host_url),
    )
    return request.headers.get("Authorization"), session


def _verify(scopes: tuple[str, ...]) -> Identity:
    identity = _checked_before(scopes)
    if identity is not None:
        return identity
    authorization, session = _credentials()
    return _state().verifier.verify(
        authorization, session=session, scopes=scopes, client=request.remote_addr, endpoint=request.path
    )


async def _averify(scopes: tuple[str, ...]) -> Identity:
    identity = _checked_before(scopes)
    if identity is not None:
        return identity
    authorization, session = _credentials()
    return await _state().verifier.averify(
        authorization, session=session, scopes=scopes, client=request.remote_addr, endpoint=request.path
    )


def _checked_before(scopes: tuple[str, ...]) -> Identity | None:
    """What the every-request hook found, when it verified this request (a view whose mark a decorator
    without functools.wraps hid): not twice, since a direct Apex JWT is single use."""
    checked = g.get(_CHECKED)
    if isinstance(checked, Refusal):
        raise checked
    if isinstance(checked, Identity) and checked.has_scopes(scopes):
        return checked
    return None  # not verified yet, or a scope to check: the verifier refuses with 403 and audits it


def _verify_every_request() -> None:
    """``before_request`` in every-request mode: ``g.forcegate`` for views that do not verify themselves."""
    endpoint = request.endpoint
    if endpoint is None or endpoint.rpartition(".")[2] == "static":
        return  # no view (404, 405), or a static file
    if getattr(current_app.view_functions.get(endpoint), _MARK, None) is not None:
        return  # a required view verifies with its own scopes; the Canvas views read what they need
    authorization, session = _credentials()
    if authorization is None and session is None:
        g.forcegate = None
        return
    try:
        identity: Identity | None = _state().verifier.verify(
            authorization, session=session, client=request.remote_addr, endpoint=request.path
        )
        g.setdefault(_CHECKED, identity)
    except Refusal as refused:
        _log_refusal(refused)
        g.setdefault(_CHECKED, refused)
        identity = None
    g.forcegate = identity


def _render_refusal(refused: Refusal) -> Response:
    """The app's error handler for :class:`Refusal`: JSON, or a page for the views that face a browser."""
    _log_refusal(refused)
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    mark = getattr(view, _MARK, None)
    return _response(page_answer(refused) if isinstance(mark, _View) and mark.page else json_answer(refused))


def _log_refusal(refused: Refusal) -> None:
    if refused.status >= 500:
        level = logging.WARNING
    else:
        level = logging.DEBUG if refused.code == "no_credentials" else logging.INFO
    log.log(
        level,
        "%s %s refused: %s %s (%s)",
        request.method,
        request.path,
        refused.status,
        refused.code,
        refused.error.reason,
    )


def _response(answer: Answer) -> Response:
    response = current_app.response_class(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers:
        response.headers.add(name, value)  # add: a Set-Cookie goes out as written, beside any other
    return response


def _location(target: str) -> str:
    return target if target.startswith("/") else url_for(target)
