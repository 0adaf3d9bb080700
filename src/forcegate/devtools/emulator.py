"""A local stand-in for Salesforce's token and userinfo endpoints, for tests, demos and development.

What it serves (an ASGI app, :attr:`SalesforceEmulator.app`):

* ``POST /services/oauth2/token`` — Salesforce's own OAuth 2.0 JWT bearer flow (service →
  Salesforce): form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>``
  with ``iss`` = a Connected App's consumer key, ``sub`` = a username, ``aud`` =
  ``https://login.salesforce.com``, ``https://test.salesforce.com`` or the URL the request was sent
  to (the My Domain case), ``exp`` at most 3 minutes ahead. Success is Salesforce's JSON
  ``{access_token, scope, instance_url, id, token_type}`` (no refresh token, no ``expires_in``).
* ``GET|POST /services/oauth2/userinfo`` — the OpenID Connect userinfo of a session token
  (``sub``, ``user_id``, ``organization_id``, ``preferred_username``, ``email``, ``name`` …).
* ``POST /services/oauth2/revoke`` — form ``token``: ends that session (200), else 400
  ``invalid_token`` (:attr:`SalesforceEmulator.revocation_outage` makes it answer 503 instead).
* ``GET /services/data/{version}/`` — one REST API resource, so a client's "re-login on
  ``INVALID_SESSION_ID``" path can be exercised.
* the web server flow with PKCE, the identity URL and the enrollment's permission query
  (:mod:`forcegate.devtools.emulator_webflow`, reached as :attr:`SalesforceEmulator.web`).

Error bodies are Salesforce's as observed (salesforce.stackexchange.com questions 184363, 207685,
282513, 212976; jsforce's handling of ``Bad_OAuth_Token``): the token endpoint answers HTTP 400
``{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}`` and its
siblings (see the ``_E_*`` constants); userinfo answers HTTP 403 with the bare text
``Bad_OAuth_Token`` / ``Missing_OAuth_Token``; the REST API answers HTTP 401
``[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]``.

Choices where Salesforce is not documented: an unknown username gets the same answer as an
unapproved one; an assertion that lives longer than 3 minutes is an "invalid assertion"; sessions
last :attr:`SalesforceEmulator.session_timeout` seconds (Salesforce's default session timeout is
2 hours) and are not extended by use.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from forcegate.clock import Clock, SystemClock
from forcegate.core import ids
from forcegate.core.jws import JWSVerifier, loads_claims
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trusted_key import TrustedKey
from forcegate.devtools.emulator_webflow import WebServerFlow
from forcegate.errors import (
    ConfigurationError,
    ForcegateError,
    InvalidAudience,
    InvalidSignature,
    KeyNotFound,
    TokenExpired,
    UnknownIssuer,
)
from forcegate.salesforce.login import GRANT_TYPE, LOGIN_URL, MAX_ASSERTION_LIFETIME, TEST_URL

__all__ = [
    "EmulatedUser",
    "SalesforceEmulator",
    "running_emulator",
]


# Salesforce's answers, word for word.
_E_UNSUPPORTED_GRANT = ("unsupported_grant_type", "grant type not supported")
_E_CLIENT_ID = ("invalid_client_id", "client identifier invalid")
_E_INVALID_ASSERTION = ("invalid_grant", "invalid assertion")
_E_JWT_FORMAT = ("invalid_grant", "Invalid JWT format")
_E_AUDIENCE = ("invalid_grant", "audience is invalid")
_E_EXPIRED = ("invalid_grant", "expired authorization code")
_E_NOT_APPROVED = ("invalid_grant", "user hasn't approved this consumer")
_E_NOT_ADMIN_APPROVED = ("invalid_grant", "user is not admin approved to access this app")
_E_INACTIVE_USER = ("invalid_grant", "inactive user")
_E_INVALID_TOKEN = ("invalid_token", "invalid token")

_MAX_FORM_BYTES = 64 * 1024
_NO_STORE = {"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}


@dataclass(frozen=True, slots=True)
class EmulatedUser:
    """A user of an emulated org; ids are stored in their 18-character form."""

    org_id: str
    user_id: str
    username: str
    email: str | None = None
    name: str | None = None
    active: bool = True
    #: System permissions, as PermissionSet field names without ``Permissions`` (``CustomizeApplication``).
    permissions: frozenset[str] = frozenset()


@dataclass(slots=True)
class _ConnectedApp:
    consumer_key: str
    keys: list[TrustedKey]
    scope: str
    # None: "All users may self-authorize" and every user has approved; else the approved usernames.
    approved_usernames: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class _Session:
    user: EmulatedUser
    expires_at: float
    consumer_key: str | None = None


class SalesforceEmulator:
    """Salesforce's login and identity endpoints over in-memory Connected Apps, users and sessions.

    Thread-safe enough for one uvicorn thread plus the test thread: state changes are single dict
    operations. The ``clock`` decides assertion expiry and session expiry.
    """

    def __init__(self, clock: Clock | None = None, *, session_timeout: float = 7200.0) -> None:
        if session_timeout <= 0:
            raise ConfigurationError("session_timeout must be positive")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.session_timeout = session_timeout
        self._apps: dict[str, _ConnectedApp] = {}
        self._users: dict[str, EmulatedUser] = {}  # by username, case-insensitively (lowercased)
        self._sessions: dict[str, _Session] = {}
        self._token_successes = 0
        #: When True, the revocation endpoint answers 503 (an outage), revoking nothing.
        self.revocation_outage = False
        #: How many tokens the revocation endpoint revoked.
        self.revocations = 0
        #: The web server flow (``/enroll``'s sign-in): its Connected Apps and who signs in next.
        self.web = WebServerFlow(self)
        self.app = Starlette(
            routes=[
                *self.web.routes(),
                Route("/services/oauth2/token", self._token, methods=["POST"]),
                Route("/services/oauth2/userinfo", self._userinfo, methods=["GET", "POST"]),
                Route("/services/oauth2/revoke", self._revoke, methods=["POST"]),
                Route("/services/data/{version}/", self._data_root, methods=["GET"]),
                Route("/services/data/{version}", self._data_root, methods=["GET"]),
            ]
        )

    def __repr__(self) -> str:
        return f"SalesforceEmulator(apps={sorted(self._apps)!r}, users={len(self._users)})"

    # --- set-up ---------------------------------------------------------------------------------

    def add_connected_app(
        self,
        consumer_key: str,
        certificate: x509.Certificate,
        *,
        scope: str = "api id",
        approved_usernames: Collection[str] | None = None,
    ) -> None:
        """Register a Connected App whose JWT-bearer assertions are signed by ``certificate``'s key.

        ``approved_usernames`` ``None`` means every user has approved the app (or it is "Admin
        approved users are pre-authorized" with everyone assigned); a collection names the only
        users allowed, the others get "user is not admin approved to access this app". Calling
        again for the same key adds a certificate (Salesforce allows one; rotation tests want two).
        """
        if not consumer_key:
            raise ConfigurationError("consumer_key must be a non-empty string")
        key = TrustedKey.from_certificate(certificate, label=f"connected app {consumer_key}")
        approved = None if approved_usernames is None else frozenset(u.lower() for u in approved_usernames)
        existing = self._apps.get(consumer_key)
        if existing is not None:
            existing.keys.append(key)
            existing.scope = scope
            existing.approved_usernames = approved
            return
        self._apps[consumer_key] = _ConnectedApp(consumer_key, [key], scope, approved)

    def add_user(
        self,
        org_id: str,
        user_id: str,
        username: str,
        *,
        email: str | None = None,
        name: str | None = None,
        active: bool = True,
        permissions: Collection[str] = (),
    ) -> EmulatedUser:
        """Add (or replace) the user ``username`` of org ``org_id``; ids may be 15 or 18 characters.

        ``permissions``: system permissions from the user's profile and permission sets, named as the
        PermissionSet fields without ``Permissions`` (``CustomizeApplication``, ``ModifyAllData``).
        """
        if not username:
            raise ConfigurationError("username must be a non-empty string")
        user = EmulatedUser(
            org_id=ids.validate(org_id, prefix=ids.ORG_PREFIX),
            user_id=ids.validate(user_id, prefix=ids.USER_PREFIX),
            username=username,
            email=email,
            name=name,
            active=active,
            permissions=frozenset(permissions),
        )
        self._users[username.lower()] = user
        return user

    def issue_session_token(
        self,
        org_id: str,
        user_id: str,
        username: str | None = None,
        *,
        lifetime: float | None = None,
        consumer_key: str | None = None,
    ) -> str:
        """A session token (what a Canvas envelope carries as ``client.oauthToken``) for a user.

        The user is one added with :meth:`add_user`; given ``username``, an unknown user is added
        on the way. ``lifetime`` defaults to :attr:`session_timeout`. Raises
        :class:`~forcegate.errors.ConfigurationError` for an unknown user without ``username``.
        """
        user = self._user_by_ids(org_id, user_id)
        if user is None:
            if username is None:
                raise ConfigurationError("no such user: call add_user() first, or pass username")
            user = self.add_user(org_id, user_id, username)
        return self._new_session(user, lifetime=lifetime, consumer_key=consumer_key)

    def revoke_session(self, token: str) -> None:
        """End one session, as logging out or an admin revoking it does; unknown tokens are ignored."""
        self._sessions.pop(token, None)

    def revoke_all_sessions(self) -> None:
        """End every session (as if the org's session timeout had passed for all of them)."""
        self._sessions.clear()

    @property
    def token_requests(self) -> int:
        """How many token requests succeeded (lets tests see whether a client used its cache)."""
        return self._token_successes

    # --- internals --------------------------------------------------------------------------------

    def _user_by_ids(self, org_id: str, user_id: str) -> EmulatedUser | None:
        for user in self._users.values():
            if ids.same_id(user.org_id, org_id) and ids.same_id(user.user_id, user_id):
                return user
        return None

    def _new_session(self, user: EmulatedUser, *, lifetime: float | None, consumer_key: str | None) -> str:
        # Shaped like Salesforce's: the 15-character org id, "!", then opaque characters.
        token = f"{user.org_id[:15]}!{secrets.token_urlsafe(72)}"
        ttl = self.session_timeout if lifetime is None else lifetime
        self._sessions[token] = _Session(user, self.clock.now() + ttl, consumer_key)
        return token

    def _session(self, request: Request) -> tuple[_Session | None, bool]:
        """The live session of the request's bearer token, and whether a token was presented at all."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "oauth") or not token:
            return None, False
        session = self._sessions.get(token)
        if session is None:
            return None, True
        if session.expires_at <= self.clock.now() or not session.user.active:
            self._sessions.pop(token, None)
            return None, True
        return session, True

    @staticmethod
    def _origin(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def _token(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_FORM_BYTES:
            return _oauth_error(_E_JWT_FORMAT)
        # parse_qsl rather than request.form(): Starlette's form parser needs python-multipart.
        try:
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20))
        except ValueError:  # too many fields
            return _oauth_error(_E_JWT_FORMAT)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return await self.web.token(form, self._origin(request))
        assertion = form.get("assertion")
        if grant_type != GRANT_TYPE or not isinstance(assertion, str) or not assertion:
            return _oauth_error(_E_UNSUPPORTED_GRANT if grant_type != GRANT_TYPE else _E_JWT_FORMAT)
        origin = self._origin(request)
        try:
            user, app = self._verify_assertion(assertion, origin)
        except _Refused as refused:
            return _oauth_error(refused.answer)
        token = self._new_session(user, lifetime=None, consumer_key=app.consumer_key)
        self._token_successes += 1
        answer = {
            "access_token": token,
            "scope": app.scope,
            "instance_url": origin,
            "id": f"{origin}/id/{user.org_id}/{user.user_id}",
            "token_type": "Bearer",
        }
        return JSONResponse(answer, headers=_NO_STORE)

    def _verify_assertion(self, assertion: str, origin: str) -> tuple[EmulatedUser, _ConnectedApp]:
        parser = JWSVerifier(algorithms=("RS256",))
        try:
            jws = parser.parse(assertion)
            claims = loads_claims(jws.payload)
        except ForcegateError:
            raise _Refused(_E_JWT_FORMAT) from None
        iss = claims.get("iss")
        app = self._apps.get(iss) if isinstance(iss, str) else None
        if app is None:
            raise _Refused(_E_CLIENT_ID)
        policy = JWTPolicy(
            audiences=frozenset({LOGIN_URL, TEST_URL, origin}),
            issuers=frozenset({app.consumer_key}),
            leeway=0,
            max_lifetime=MAX_ASSERTION_LIFETIME,
        )
        verifier = JWTVerifier(policy=policy, keys=app.keys, clock=self.clock)
        try:
            verifier.verify_parsed(assertion, jws, claims)
        except UnknownIssuer:
            raise _Refused(_E_CLIENT_ID) from None
        except (InvalidSignature, KeyNotFound):
            raise _Refused(_E_INVALID_ASSERTION) from None
        except InvalidAudience:
            raise _Refused(_E_AUDIENCE) from None
        except TokenExpired:
            raise _Refused(_E_EXPIRED) from None
        except ForcegateError:
            raise _Refused(_E_INVALID_ASSERTION) from None
        sub = claims.get("sub")
        user = self._users.get(sub.lower()) if isinstance(sub, str) else None
        if user is None:
            raise _Refused(_E_NOT_APPROVED)
        if not user.active:
            raise _Refused(_E_INACTIVE_USER)
        if app.approved_usernames is not None and user.username.lower() not in app.approved_usernames:
            raise _Refused(_E_NOT_ADMIN_APPROVED)
        return user, app

    async def _userinfo(self, request: Request) -> Response:
        session, presented = self._session(request)
        if session is None:
            # Salesforce's identity service answers a bare word, HTTP 403, where the data API says 401.
            return PlainTextResponse("Bad_OAuth_Token" if presented else "Missing_OAuth_Token", status_code=403)
        return JSONResponse(_userinfo_document(session.user, self._origin(request)), headers=_NO_STORE)

    async def _revoke(self, request: Request) -> Response:
        """``POST /services/oauth2/revoke`` with form ``token``: the session ends (200, empty body);
        an unknown, expired or missing token is 400 ``invalid_token``, as Salesforce documents
        ("Revoke OAuth Tokens Programmatically"; Mobile SDK guide, "Revoking OAuth Tokens")."""
        if self.revocation_outage:
            return PlainTextResponse("Service Unavailable", status_code=503)
        body = await request.body()
        form = (
            dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=20)) if len(body) <= _MAX_FORM_BYTES else {}
        )
        session = self._sessions.pop(form.get("token", ""), None)
        if session is None or session.expires_at <= self.clock.now():
            return _oauth_error(_E_INVALID_TOKEN)
        self.revocations += 1
        return Response(status_code=200, headers=_NO_STORE)

    async def _data_root(self, request: Request) -> Response:
        session, _ = self._session(request)
        if session is None:
            return JSONResponse(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                status_code=401,
                headers={"WWW-Authenticate": 'Token realm="Salesforce"'},
            )
        version = request.path_params["version"]
        base = f"/services/data/{version}"
        return JSONResponse({name: f"{base}/{name}" for name in ("sobjects", "query", "limits", "search")})


class _Refused(Exception):
    def __init__(self, answer: tuple[str, str]) -> None:
        super().__init__(answer[0])
        self.answer = answer


def _oauth_error(answer: tuple[str, str]) -> Response:
    error, description = answer
    return JSONResponse({"error": error, "error_description": description}, status_code=400, headers=_NO_STORE)


def _userinfo_document(user: EmulatedUser, origin: str) -> dict[str, Any]:
    name = user.name or user.username
    given, _, family = name.partition(" ")
    return {
        "sub": f"{origin}/id/{user.org_id}/{user.user_id}",
        "user_id": user.user_id,
        "organization_id": user.org_id,
        "preferred_username": user.username,
        "nickname": user.username.partition("@")[0],
        "name": name,
        "email": user.email,
        "email_verified": user.email is not None,
        "given_name": given,
        "family_name": family or given,
        "zoneinfo": "Europe/London",
        "active": user.active,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": {
            "rest": f"{origin}/services/data/v{{version}}/",
            "profile": f"{origin}/{user.user_id}",
        },
        "is_app_installed": True,
    }


@contextlib.contextmanager
def running_emulator(emulator: SalesforceEmulator) -> Iterator[str]:
    """Serve ``emulator`` with uvicorn on ``127.0.0.1:<ephemeral port>`` in a thread; yield its base URL.

    The socket is bound before the server starts, so the URL is known and stable; the server is
    stopped and the thread joined on exit.
    """
    import uvicorn  # here, so importing forcegate.devtools.emulator does not load the server stack

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(emulator.app, log_level="warning", access_log=False, lifespan="off", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="salesforce-emulator")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Salesforce emulator did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
