"""What every web-framework integration does the same way, without a web framework.

An adapter (the Flask extension; Django's may use it too) copies values between its own request and
response objects and these functions, so the decisions are made once:

* :func:`choose_verifier` — the ``FORCEGATE`` mapping into the process's one verifier: exactly one of
  ``{"JWKS": {...}}`` (:class:`~forcegate.resource.JWKSVerifier` keyword arguments), ``{"REGISTRY":
  {...}}`` (forcegate settings over ``FORCEGATE_*``, for a :class:`~forcegate.resource.RegistryVerifier`)
  or ``{"VERIFIER": …}`` (one already made, a function making one, or a dotted path to either);
* :func:`registry_of` — the verifier the Canvas views need;
* :class:`Answer` — status, body, content type and headers, for the adapter to copy into its response:
  :func:`json_answer` (a refusal at an API: forcegate's JSON body, the RFC 6750 challenge, no-store),
  :func:`page_answer` (the same refusal for a browser: a small HTML page), :func:`canvas_opened` (the
  303 after a Canvas login, its ``Set-Cookie`` sent raw, decision 0009), :func:`signed_out`;
* :func:`check_logout_origin` — a logout POSTed by another site's page is refused, as the service does.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from forcegate.errors import AuthenticationRequired, CanvasError, ConfigurationError, ForcegateError, TokenError
from forcegate.resource import CanvasSession, JWKSVerifier, Refusal, RegistryVerifier, Verifier
from forcegate.resource._refusal import refusal
from forcegate.service.canvas import check_origin
from forcegate.settings import Settings, load_settings

__all__ = [
    "PAGE_HEADERS",
    "VERIFIER_KINDS",
    "Answer",
    "VerifierChoice",
    "canvas_opened",
    "check_local_path",
    "check_logout_origin",
    "choose_verifier",
    "json_answer",
    "origin_of",
    "page_answer",
    "registry_of",
    "registry_settings",
    "same_site_session",
    "signed_out",
]

#: The keys of a ``FORCEGATE`` mapping that choose the verifier; exactly one is given.
VERIFIER_KINDS = ("JWKS", "REGISTRY", "VERIFIER")
_SETTINGS_FIELDS = {field.name: str(field.type) for field in dataclasses.fields(Settings)}
_JWKS_ARGUMENTS = frozenset(inspect.signature(JWKSVerifier).parameters)

#: The headers of the pages below: no script, nothing loaded, no inline style, nothing sniffed. No
#: ``frame-ancestors``: they are shown in Salesforce's iframe and offer nothing to click.
PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", "default-src 'none'; base-uri 'none'; form-action 'self'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)
_HTML = "text/html; charset=utf-8"


# --- the settings --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifierChoice:
    """The verifier a ``FORCEGATE`` mapping names: ``kind`` (``jwks``, ``registry``, ``verifier``),
    ``build`` (makes it; nothing opens before its first call), ``owned`` (built here, so the adapter
    closes it; one the application handed over is the application's)."""

    kind: str
    build: Callable[[], Verifier]
    owned: bool


def choose_verifier(config: object, *, where: str, other_keys: Collection[str] = ()) -> VerifierChoice:
    """The verifier ``config`` (the adapter's ``FORCEGATE`` mapping, named ``where`` in errors) chooses.

    ``other_keys``: the adapter's own keys beside the verifier's (they are left to it). Settings are
    read and checked here (a wrong one fails at start, not at the first request); the verifier is not
    built. Else :class:`~forcegate.errors.ConfigurationError`.
    """
    example = f'{where} = {{"JWKS": {{"issuer": "https://auth.example.com"}}}} or {{"REGISTRY": {{}}}}'
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"{where} must be a dict naming the verifier, for example {example}")
    unknown = sorted(str(key) for key in config if key not in VERIFIER_KINDS and key not in other_keys)
    if unknown:
        known = ", ".join(sorted({*VERIFIER_KINDS, *other_keys}))
        raise ConfigurationError(f"{where} has unknown key(s) {', '.join(unknown)} (the keys are {known})")
    chosen = [key for key in VERIFIER_KINDS if key in config]
    if len(chosen) != 1:
        raise ConfigurationError(
            f"{where} must name exactly one verifier, JWKS, REGISTRY or VERIFIER "
            f"(found {', '.join(chosen) or 'none'}): JWKS verifies the service's access tokens with its published "
            "keys; REGISTRY shares the service's registry (access tokens, Apex JWTs sent directly, Canvas sessions)"
        )
    [kind] = chosen
    given = config[kind]
    if kind == "VERIFIER":
        return _given_verifier(given, where=f"{where}['VERIFIER']")
    if not isinstance(given, Mapping) or not all(isinstance(key, str) for key in given):
        raise ConfigurationError(f"{where}['{kind}'] must be a dict of keyword arguments")
    if kind == "JWKS":
        arguments = dict(given)
        wrong = sorted(set(arguments) - _JWKS_ARGUMENTS)
        if wrong or "issuer" not in arguments:
            raise ConfigurationError(
                f"{where}['JWKS'] takes JWKSVerifier's arguments ({', '.join(sorted(_JWKS_ARGUMENTS))}), "
                f"issuer required" + (f"; not {', '.join(wrong)}" if wrong else "")
            )
        return VerifierChoice("jwks", lambda: JWKSVerifier(**arguments), owned=True)
    settings = registry_settings(given, where=f"{where}['REGISTRY']")
    return VerifierChoice("registry", lambda: RegistryVerifier(settings), owned=True)


def registry_settings(given: Mapping[str, Any], *, where: str) -> Settings:
    """forcegate settings: ``given`` (setting names, any case) over ``FORCEGATE_*`` and ``FORCEGATE_CONFIG``."""
    values: dict[str, Any] = {}
    for key, value in given.items():
        name = key.lower()
        kind = _SETTINGS_FIELDS.get(name)
        if kind is None:
            raise ConfigurationError(
                f"{where}: {key!r} is not a forcegate setting (data_dir, database_url, public_url, extra_audiences …)"
            )
        values[name] = _setting_value(value, kind, where=f"{where}: {key}")
    try:
        return load_settings(**values)
    except ForcegateError as exc:
        raise ConfigurationError(f"{where} is refused: {exc.reason}") from exc


def _setting_value(value: object, kind: str, *, where: str) -> object:
    """``value`` for a setting of type ``kind``, checked: the settings object trusts its types, and a
    string ``"false"`` taken for a flag would be true (development mode, of all things)."""
    if value is None and kind == "str | None":
        return None
    if kind == "Path" and isinstance(value, str | os.PathLike):
        return Path(value)
    if kind.startswith("tuple[") and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in ("str", "str | None") and isinstance(value, str):
        return value
    shown = {"Path": "a path", "bool": "true or false", "int": "a whole number"}.get(kind, "a string")
    if kind.startswith("tuple["):
        shown = "a list of strings"
    raise ConfigurationError(f"{where} must be {shown}, not {type(value).__name__}")


def _given_verifier(given: object, *, where: str) -> VerifierChoice:
    made = _import(given, where=where) if isinstance(given, str) else given
    if isinstance(made, type):  # a class: its arguments are unknown here (build it, or give a function)
        raise ConfigurationError(f"{where} must be a verifier, a function returning one, or a dotted path to either")
    if hasattr(made, "verify"):
        verifier = cast("Verifier", made)
        return VerifierChoice("verifier", lambda: verifier, owned=False)
    if callable(made):
        return VerifierChoice("verifier", cast("Callable[[], Verifier]", made), owned=False)
    raise ConfigurationError(f"{where} must be a verifier, a function returning one, or a dotted path to either")


def _import(path: str, *, where: str) -> object:
    module, _, name = path.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: cannot import {path!r} ({exc})") from exc


def registry_of(verifier: Verifier, *, where: str) -> RegistryVerifier:
    """``verifier``, which the Canvas views need to be a :class:`RegistryVerifier` (they open sessions)."""
    if not isinstance(verifier, RegistryVerifier):
        raise ConfigurationError(
            f"the forcegate Canvas views open sessions in the service's registry: {where} needs REGISTRY "
            f"(or a VERIFIER that is a RegistryVerifier), not {type(verifier).__name__}"
        )
    return verifier


def check_local_path(path: str, *, what: str) -> str:
    """``path`` if it is a path on this site (one leading ``/``): a redirect target never leaves it."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 0x20 for c in path):
        raise ConfigurationError(f"{what} must be a path on this site starting with one '/', not {path!r}")
    return path


# --- answers -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """A response, framework-neutral. ``content_type`` None: no body. Header names are lower-case."""

    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...]


def json_answer(refused: Refusal) -> Answer:
    """``refused`` at an API: forcegate's JSON body (``error``; ``error_description`` and ``code`` when
    safe to tell), its status, ``WWW-Authenticate``, ``Retry-After`` when due, ``Cache-Control: no-store``."""
    return Answer(refused.status, refused.json(), "application/json", refused.headers)


def page_answer(refused: Refusal) -> Answer:
    """``refused`` for a browser (the Canvas POST, a landing page): an HTML page with its status and headers.

    It says what the body of :func:`json_answer` says: the reason and code only when they are safe to
    tell (the request's own shape, a rate limit, development mode).
    """
    if refused.status == 503:
        title, message = "Unavailable", "Try again shortly."
    elif refused.status == 429:
        title, message = "Too many requests", "Try again in a moment."
    elif isinstance(refused.error, AuthenticationRequired | TokenError):
        title, message = "Not signed in", "Open this app from Salesforce: there is no Canvas session here."
    elif isinstance(refused.error, CanvasError):
        title, message = "Canvas request refused", "The signed request could not be accepted."
    else:
        title, message = "Request refused", "The request could not be accepted."
    description = refused.body.get("error_description")
    if description is not None:
        message += f" ({refused.body.get('code', refused.oauth_error)}: {description})"
    return Answer(refused.status, _page(title, message), _HTML, (*PAGE_HEADERS, *refused.headers))


def canvas_opened(session: CanvasSession, location: str) -> Answer:
    """The answer to a Canvas login: 303 to ``location``, the session cookie as forcegate wrote it (raw:
    ``Partitioned`` is beyond most frameworks' cookie writers), never cached."""
    return _redirect(location, session.set_cookie)


def signed_out(set_cookie: str, location: str | None = None) -> Answer:
    """The answer to a logout: ``set_cookie`` (the cookie removed), then 303 to ``location``, or a page."""
    if location is not None:
        return _redirect(location, set_cookie)
    body = _page("Signed out", "The session is over. Open the app from Salesforce to sign in again.")
    return Answer(200, body, _HTML, (*PAGE_HEADERS, ("cache-control", "no-store"), ("set-cookie", set_cookie)))


def check_logout_origin(origin: str | None, *, own_origin: str, verifier: RegistryVerifier) -> None:
    """Refuse (:class:`Refusal`, 403 at the Canvas edge) a logout a browser POSTed from another site's page.

    The session cookie is ``SameSite=None``, so it goes along with a cross-site POST: a page elsewhere
    must not end the user's session. The app's own pages (``own_origin``: ``scheme://host[:port]`` as
    the browser sees the app) and Salesforce's may; a request without ``Origin`` is not a browser's form.
    """
    if origin is None or origin == own_origin:
        return
    try:
        check_origin(origin, verifier.settings.canvas_instance_domains)
    except ForcegateError as exc:
        raise refusal(exc, development=verifier.settings.development, canvas=True) from exc


#: Methods a browser may send cross-site with a ``SameSite=Lax`` cookie (they must not change anything).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def same_site_session(
    session: str | None,
    *,
    method: str,
    origin: str | None,
    fetch_site: str | None,
    own_origin: str,
    trusted_origins: Collection[str] = (),
) -> str | None:
    """The session cookie's value, or None where ``SameSite`` would have kept it back.

    The session cookie must be ``SameSite=None`` to reach the app in Salesforce's iframe, so the browser
    also sends it along with another site's requests. A cross-origin unsafe request (a POST from another
    site's page: login or action CSRF) is read as if the browser had kept the cookie back: its
    ``Origin`` (or, without one, ``Sec-Fetch-Site``) must be the app's own (``own_origin``) or one of
    ``trusted_origins``. A bearer credential is not a cookie and is not affected.
    """
    if session is None or method in SAFE_METHODS:
        return session
    if origin is None:
        return None if fetch_site == "cross-site" else session
    return session if origin == own_origin or origin in trusted_origins else None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, as a browser's ``Origin`` header writes it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _redirect(location: str, set_cookie: str) -> Answer:
    return Answer(303, b"", None, (("location", location), ("set-cookie", set_cookie), ("cache-control", "no-store")))


def _page(title: str, message: str) -> bytes:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    ).encode()
