"""The emulator's web server flow: what ``GET /enroll`` signs subscriber admins in with.

Served by :class:`~forcegate.devtools.emulator.SalesforceEmulator` beside its JWT-bearer endpoints:

* ``GET /services/oauth2/authorize`` — OAuth 2.0 web server flow (RFC 6749 §4.1) with PKCE
  (RFC 7636): ``response_type=code``, ``client_id``, ``redirect_uri`` (exactly the Connected App's
  callback URL), ``state``, ``code_challenge`` with ``code_challenge_method=S256``. The user who
  "types their credentials" is the one named by :meth:`WebServerFlow.sign_in_as`. Success is a 302
  to the callback with ``code`` and ``state``; a denial (:meth:`WebServerFlow.deny_next`) or a
  missing challenge comes back as ``error``/``error_description`` on the callback; an unknown client
  or another callback URL is Salesforce's error page (HTTP 400), never a redirect.
* ``POST /services/oauth2/token`` with ``grant_type=authorization_code`` — ``code``, ``client_id``,
  ``client_secret``, ``redirect_uri``, ``code_verifier``. A code is single use and lives 15 minutes.
  Success: ``{access_token, signature, scope, instance_url, id, token_type, issued_at}``.
* ``GET /id/{org_id}/{user_id}`` — the identity URL: ``user_id``, ``organization_id``, ``username``,
  ``display_name``, ``urls`` … for a session of that user; else HTTP 403 ``Bad_OAuth_Token``.
* ``GET /services/data/{version}/query?q=`` — the one query the enrollment's admin check makes (a
  ``PermissionSetAssignment`` of the user whose permission set grants ``PermissionsCustomizeApplication``
  or ``PermissionsModifyAllData``), answered from the user's ``permissions``, for any live session:
  the web flow's token, or a Canvas envelope's ``oauthToken``
  (:meth:`~forcegate.devtools.emulator.SalesforceEmulator.issue_session_token`), as enrollment from a
  Canvas app asks it. A user who may not view setup gets ``INVALID_TYPE``, another query
  ``MALFORMED_QUERY``, a dead session ``INVALID_SESSION_ID``.

Error strings are Salesforce's as observed: ``invalid_client_id`` "client identifier invalid",
``invalid_client`` "invalid client credentials", ``redirect_uri_mismatch`` "redirect_uri must match
configuration", ``invalid_grant`` "expired authorization code" (an unknown, used or expired code),
``invalid_grant`` "invalid code verifier", ``access_denied`` "end-user denied authorization".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from forcegate.core import ids
from forcegate.errors import ConfigurationError

if TYPE_CHECKING:
    from forcegate.devtools.emulator import EmulatedUser, SalesforceEmulator

__all__ = ["ADMIN_PERMISSIONS", "WebServerFlow"]

#: The permissions the enrollment's admin check looks for (PermissionSet field names without ``Permissions``).
ADMIN_PERMISSIONS = frozenset({"CustomizeApplication", "ModifyAllData"})
_SETUP_READERS = ADMIN_PERMISSIONS | {"ViewSetup"}
_CODE_LIFETIME = 900.0
_E_CLIENT_ID = ("invalid_client_id", "client identifier invalid")
_E_CLIENT = ("invalid_client", "invalid client credentials")
_E_REDIRECT = ("redirect_uri_mismatch", "redirect_uri must match configuration")
_E_CODE = ("invalid_grant", "expired authorization code")
_E_VERIFIER = ("invalid_grant", "invalid code verifier")
_E_DENIED = ("access_denied", "end-user denied authorization")
_E_CHALLENGE = ("invalid_request", "missing required code challenge")
_ADMIN_QUERY = re.compile(
    r"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '(005[0-9A-Za-z]{12,15})' AND IsActive = true AND "
    r"\(PermissionSet\.PermissionsCustomizeApplication = true OR PermissionSet\.PermissionsModifyAllData = true\)"
    r" LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class _WebApp:
    consumer_key: str
    consumer_secret: str
    callback_url: str
    scope: str


@dataclass(frozen=True, slots=True)
class _Grant:
    app: _WebApp
    user: EmulatedUser
    redirect_uri: str
    challenge: str
    expires_at: float


class WebServerFlow:
    """The web server flow's Connected Apps, pending codes and next sign-in, for one emulator."""

    def __init__(self, emulator: SalesforceEmulator) -> None:
        self._emulator = emulator
        self._apps: dict[str, _WebApp] = {}
        self._codes: dict[str, _Grant] = {}
        self._next_user: str | None = None
        self._deny = False
        self.authorize_requests: list[dict[str, str]] = []
        #: The access tokens the code exchange issued, oldest first (a test asks whether they still work).
        self.issued_tokens: list[str] = []

    def routes(self) -> list[Route]:
        return [
            Route("/services/oauth2/authorize", self._authorize, methods=["GET"]),
            Route("/id/{org_id}/{user_id}", self._identity, methods=["GET"]),
            Route("/services/data/{version}/query", self._query, methods=["GET"]),
        ]

    def add_web_app(self, consumer_key: str, consumer_secret: str, callback_url: str, *, scope: str = "api id") -> None:
        """A Connected App with OAuth enabled for the web server flow, PKCE required."""
        if not consumer_key or not consumer_secret or not callback_url:
            raise ConfigurationError("a web app needs a consumer key, a consumer secret and a callback URL")
        self._apps[consumer_key] = _WebApp(consumer_key, consumer_secret, callback_url, scope)

    def sign_in_as(self, username: str) -> None:
        """The user who signs in at the next authorize requests (as if they typed their password)."""
        self._next_user = username.lower()

    def deny_next(self) -> None:
        """The next authorize request is denied by the user ("Deny" on the approval page)."""
        self._deny = True

    # --- endpoints ----------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        app = self._apps.get(params.get("client_id", ""))
        if app is None:
            return _error_page(_E_CLIENT_ID)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri != app.callback_url:
            return _error_page(_E_REDIRECT)
        state = params.get("state")
        if params.get("response_type") != "code":
            return _back(redirect_uri, state, ("unsupported_response_type", "response type not supported"))
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method", "S256") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            return _back(redirect_uri, state, _E_CHALLENGE)
        if self._deny:
            self._deny = False
            return _back(redirect_uri, state, _E_DENIED)
        user = self._emulator._users.get(self._next_user or "")
        if user is None or not user.active:
            return PlainTextResponse("Please check your username and password.", status_code=200)
        code = "aPrx" + secrets.token_urlsafe(48)
        self._codes[code] = _Grant(app, user, redirect_uri, challenge, self._emulator.clock.now() + _CODE_LIFETIME)
        query = {"code": code, **({"state": state} if state is not None else {})}
        return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)

    async def token(self, form: dict[str, str], origin: str) -> Response:
        """``grant_type=authorization_code`` at the emulator's token endpoint."""
        app = self._apps.get(form.get("client_id", ""))
        if app is None:
            return _oauth_error(_E_CLIENT_ID)
        if not hmac.compare_digest(form.get("client_secret", "").encode(), app.consumer_secret.encode()):
            return _oauth_error(_E_CLIENT)
        grant = self._codes.pop(form.get("code", ""), None)  # single use, whatever happens next
        if grant is None or grant.app is not app or grant.expires_at <= self._emulator.clock.now():
            return _oauth_error(_E_CODE)
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(_E_REDIRECT)
        verifier = form.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not verifier or not hmac.compare_digest(computed, grant.challenge):
            return _oauth_error(_E_VERIFIER)
        user = grant.user
        token = self._emulator._new_session(user, lifetime=None, consumer_key=app.consumer_key)
        self.issued_tokens.append(token)
        identity_url = f"{origin}/id/{user.org_id}/{user.user_id}"
        issued_at = str(int(self._emulator.clock.now() * 1000))
        signature = hmac.new(app.consumer_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256)
        return JSONResponse(
            {
                "access_token": token,
                "signature": base64.b64encode(signature.digest()).decode(),
                "scope": app.scope,
                "instance_url": origin,
                "id": identity_url,
                "token_type": "Bearer",
                "issued_at": issued_at,
            },
            headers={"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"},
        )

    async def _identity(self, request: Request) -> Response:
        session, _ = self._emulator._session(request)
        org_id, user_id = request.path_params["org_id"], request.path_params["user_id"]
        if session is None:
            return PlainTextResponse("Bad_OAuth_Token", status_code=403)
        user = session.user
        if not (ids.same_id(org_id, user.org_id) and ids.same_id(user_id, user.user_id)):
            return PlainTextResponse("Bad_Id", status_code=403)
        return JSONResponse(_identity_document(user, f"{request.url.scheme}://{request.url.netloc}"))

    async def _query(self, request: Request) -> Response:
        session, _ = self._emulator._session(request)
        if session is None:
            return JSONResponse(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], status_code=401
            )
        query = request.query_params.get("q", "")
        found = _ADMIN_QUERY.fullmatch(query)
        if found is None:
            return JSONResponse([{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}], status_code=400)
        if not session.user.permissions & _SETUP_READERS:
            message = "sObject type 'PermissionSetAssignment' is not supported."
            return JSONResponse([{"message": message, "errorCode": "INVALID_TYPE"}], status_code=400)
        assignee = next(
            (u for u in self._emulator._users.values() if ids.same_id(u.user_id, found.group(1))),
            None,
        )
        version = request.path_params["version"]
        records: list[dict[str, Any]] = []
        if assignee is not None and assignee.org_id == session.user.org_id and assignee.permissions & ADMIN_PERMISSIONS:
            record_id = "0Pa" + assignee.user_id[3:15]
            records.append(
                {
                    "attributes": {
                        "type": "PermissionSetAssignment",
                        "url": f"/services/data/{version}/sobjects/PermissionSetAssignment/{record_id}",
                    },
                    "Id": record_id,
                }
            )
        return JSONResponse({"totalSize": len(records), "done": True, "records": records})


def _identity_document(user: EmulatedUser, origin: str) -> dict[str, Any]:
    name = user.name or user.username
    given, _, family = name.partition(" ")
    rest = f"{origin}/services/data/v{{version}}/"
    return {
        "id": f"{origin}/id/{user.org_id}/{user.user_id}",
        "asserted_user": True,
        "user_id": user.user_id,
        "organization_id": user.org_id,
        "username": user.username,
        "nick_name": user.username.partition("@")[0],
        "display_name": name,
        "email": user.email,
        "email_verified": user.email is not None,
        "first_name": given,
        "last_name": family or given,
        "timezone": "Europe/London",
        "active": user.active,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "last_modified_date": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(0)),
        "is_app_installed": True,
        "urls": {"rest": rest, "query": rest + "query/", "profile": f"{origin}/{user.user_id}"},
    }


def _back(redirect_uri: str, state: str | None, answer: tuple[str, str]) -> Response:
    error, description = answer
    query = {"error": error, "error_description": description, **({"state": state} if state is not None else {})}
    return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)


def _error_page(answer: tuple[str, str]) -> Response:
    error, description = answer
    return PlainTextResponse(f"error={error}&error_description={description}", status_code=400)


def _oauth_error(answer: tuple[str, str]) -> Response:
    error, description = answer
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
