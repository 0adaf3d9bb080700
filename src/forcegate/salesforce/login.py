"""The service calling Salesforce: an access token by Salesforce's OAuth 2.0 JWT bearer flow.

Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": the client POSTs
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`` to
``{login URL}/services/oauth2/token``. The JWT is RS256, signed with the private key of the
certificate uploaded to the Connected App ("Use digital signatures"); its claims are ``iss`` = the
consumer key, ``sub`` = the username, ``aud`` = ``https://login.salesforce.com``,
``https://test.salesforce.com`` or the My Domain URL, and ``exp`` within 3 minutes. The answer is
``{access_token, scope, instance_url, id, token_type}``: no refresh token and no ``expires_in`` —
the token lives as long as the org's (or Connected App's) session timeout, which the client cannot
see. So :class:`SalesforceSession` keeps a token for ``session_timeout`` seconds (default 15
minutes, the shortest timeout Salesforce offers) and logs in again, once, when an API call answers
401 ``INVALID_SESSION_ID`` earlier than that.

The assertion is signed RS256 by :func:`forcegate.core.jws_sign.sign_compact` (``cryptography``),
header ``{"alg":"RS256"}``. Neither the assertion nor any access token is logged or put into an
error message; :class:`SalesforceToken` leaves the token out of its ``repr``.

This module needs ``httpx``, which the ``salesforce`` extra installs (``pip install
'forcegate[salesforce]'``); without it, importing the module raises an ``ImportError`` saying so.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from forcegate._extras import missing_extra
from forcegate.clock import Clock, SystemClock
from forcegate.core.claim_profile import is_loopback_host
from forcegate.core.jws_sign import sign_compact
from forcegate.errors import (
    ConfigurationError,
    SalesforceAssertionExpired,
    SalesforceAssertionRejected,
    SalesforceAudienceInvalid,
    SalesforceClientUnknown,
    SalesforceLoginError,
    SalesforceUnavailable,
    SalesforceUserNotApproved,
)

try:
    import httpx
except ImportError as _exc:  # the outbound client is the `salesforce` extra, not the base install
    raise missing_extra("forcegate.salesforce.login", "salesforce", _exc.name or "httpx") from _exc

__all__ = [
    "DEFAULT_SESSION_TIMEOUT",
    "LOGIN_URL",
    "MAX_ASSERTION_LIFETIME",
    "TEST_URL",
    "AsyncSalesforceSession",
    "SalesforceJWTLogin",
    "SalesforceSession",
    "SalesforceToken",
    "check_audience",
]

LOGIN_URL = "https://login.salesforce.com"
TEST_URL = "https://test.salesforce.com"
MAX_ASSERTION_LIFETIME = 180
DEFAULT_SESSION_TIMEOUT = 900.0
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"

_MY_DOMAIN_SUFFIX = ".my.salesforce.com"
# The key sizes a Connected App's "Use digital signatures" certificate may have.
_SALESFORCE_RSA_SIZES = frozenset({2048, 3072, 4096})
# Salesforce's descriptions are short fixed sentences; anything else is left out of messages.
_SAFE_DESCRIPTION = re.compile(r"[A-Za-z0-9 _.,:;'/()\-]{1,120}")
_SAFE_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

_DESCRIPTION_ERRORS: dict[str, type[SalesforceLoginError]] = {
    "invalid assertion": SalesforceAssertionRejected,
    "invalid jwt format": SalesforceAssertionRejected,
    "audience is invalid": SalesforceAudienceInvalid,
    "expired authorization code": SalesforceAssertionExpired,
    "expired access/refresh token": SalesforceAssertionExpired,
    "user hasn't approved this consumer": SalesforceUserNotApproved,
    "user is not admin approved to access this app": SalesforceUserNotApproved,
}


def check_audience(audience: str) -> str:
    """``audience`` if Salesforce's JWT bearer flow can accept it, else :class:`ConfigurationError`.

    Accepted: ``https://login.salesforce.com``, ``https://test.salesforce.com``, an
    ``https://<domain>.my.salesforce.com`` My Domain (sandboxes and scratch orgs included), and a
    loopback ``http(s)://`` origin for the local emulator. Exactly an origin: Salesforce compares the
    string, so a path or a trailing slash would be refused as "audience is invalid" anyway.
    """
    parts = urlsplit(audience)
    host = parts.hostname or ""
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(f"audience {audience!r} must be a bare origin (no path, not even a trailing '/')")
    if is_loopback_host(host) and parts.scheme in ("http", "https"):
        return audience
    if parts.scheme != "https" or parts.port is not None:
        raise ConfigurationError(f"audience {audience!r} must be an https:// Salesforce login URL")
    if audience in (LOGIN_URL, TEST_URL) or (host.endswith(_MY_DOMAIN_SUFFIX) and len(host) > len(_MY_DOMAIN_SUFFIX)):
        return audience
    raise ConfigurationError(
        f"audience {audience!r} is not {LOGIN_URL}, {TEST_URL} or a My Domain URL (https://…{_MY_DOMAIN_SUFFIX})"
    )


def _check_key_pair(private_key: object, certificate: object) -> RSAPrivateKey:
    """``private_key`` if it is a key Salesforce verifies with ``certificate``, else :class:`ConfigurationError`.

    Checked here, not at Salesforce: a mismatched pair would only come back as "invalid assertion".
    """
    # Runtime checks: keys often arrive untyped, from keystores.
    if not isinstance(private_key, RSAPrivateKey):
        raise ConfigurationError(f"Salesforce verifies RSA signatures only, not {type(private_key).__name__}")
    if private_key.key_size not in _SALESFORCE_RSA_SIZES:
        raise ConfigurationError(f"RSA key of {private_key.key_size} bits; Salesforce uses 2048, 3072 or 4096")
    if not isinstance(certificate, x509.Certificate):
        raise ConfigurationError(f"expected an x509.Certificate, not {type(certificate).__name__}")
    public = certificate.public_key()
    if not isinstance(public, RSAPublicKey) or public.public_numbers() != private_key.public_key().public_numbers():
        raise ConfigurationError("the certificate does not hold the public half of the given private key")
    return private_key


def _check_login_url(login_url: str) -> str:
    parts = urlsplit(login_url)
    host = parts.hostname or ""
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        if parts.query or parts.fragment or parts.username or not host:
            raise ConfigurationError(f"login URL {login_url!r} must be a plain https:// URL")
        return login_url.rstrip("/")
    raise ConfigurationError(f"login URL {login_url!r} must be https:// (http:// only for a loopback emulator)")


@dataclass(frozen=True, slots=True)
class SalesforceToken:
    """A Salesforce access token and what came with it. ``repr`` never shows the token."""

    access_token: str = field(repr=False)
    instance_url: str
    id: str
    scope: str
    token_type: str
    issued_at: float
    expires_at: float

    @property
    def org_id(self) -> str | None:
        """The org id from the identity URL ``…/id/<org id>/<user id>``."""
        parts = urlsplit(self.id).path.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 3 and parts[-3] == "id" else None

    @property
    def user_id(self) -> str | None:
        """The user id from the identity URL ``…/id/<org id>/<user id>``."""
        parts = urlsplit(self.id).path.rstrip("/").split("/")
        return parts[-1] if len(parts) >= 3 and parts[-3] == "id" else None


class SalesforceJWTLogin:
    """One Connected App user's JWT bearer login: mints the assertion and reads Salesforce's answer.

    ``certificate`` is the one uploaded to the Connected App and ``private_key`` its key (RSA
    2048/3072/4096, as Salesforce accepts). ``login_url`` is where the assertion is POSTed;
    ``audience`` defaults to it (right for login, test and My Domain URLs).
    """

    def __init__(
        self,
        *,
        consumer_key: str,
        username: str,
        private_key: RSAPrivateKey,
        certificate: x509.Certificate,
        login_url: str = LOGIN_URL,
        audience: str | None = None,
        assertion_lifetime: int = MAX_ASSERTION_LIFETIME,
        clock: Clock | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not consumer_key or not username:
            raise ConfigurationError("consumer_key and username must be non-empty")
        if not 0 < assertion_lifetime <= MAX_ASSERTION_LIFETIME:
            raise ConfigurationError(f"assertion_lifetime must be between 1 and {MAX_ASSERTION_LIFETIME} seconds")
        self.consumer_key = consumer_key
        self.username = username
        self.login_url = _check_login_url(login_url)
        self.audience = check_audience(audience if audience is not None else self.login_url)
        self.assertion_lifetime = assertion_lifetime
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.timeout = timeout
        self._private_key = _check_key_pair(private_key, certificate)

    def __repr__(self) -> str:
        return (
            f"SalesforceJWTLogin(consumer_key={self.consumer_key!r}, username={self.username!r}, "
            f"login_url={self.login_url!r}, audience={self.audience!r})"
        )

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    def assertion(self) -> str:
        """A fresh signed assertion (a bearer credential for the next few minutes: never log it)."""
        # Whole seconds, floored so exp never exceeds now + lifetime; nbf = now, as Apex's Auth.JWT writes it.
        now = math.floor(self.clock.now())
        claims = {
            "iss": self.consumer_key,
            "sub": self.username,
            "aud": self.audience,
            "exp": now + self.assertion_lifetime,
            "nbf": now,
        }
        return sign_compact(orjson.dumps(claims), self._private_key, alg="RS256")

    def _form(self) -> dict[str, str]:
        return {"grant_type": GRANT_TYPE, "assertion": self.assertion()}

    def login(
        self, *, client: httpx.Client | None = None, session_timeout: float = DEFAULT_SESSION_TIMEOUT
    ) -> SalesforceToken:
        """POST the grant and return the token; ``expires_at`` is now + ``session_timeout``.

        Raises a :class:`~forcegate.errors.SalesforceLoginError` subclass when Salesforce refuses,
        :class:`~forcegate.errors.SalesforceUnavailable` when it cannot be reached or answers
        something unreadable.
        """
        issued_at = self.clock.now()
        try:
            if client is not None:
                response = self._post(client)
            else:
                with httpx.Client(trust_env=False) as own:
                    response = self._post(own)
        except httpx.HTTPError as exc:
            raise _unavailable(exc) from None
        return _read_token(response, issued_at=issued_at, session_timeout=session_timeout)

    def _post(self, client: httpx.Client) -> httpx.Response:
        return client.post(self.token_url, data=self._form(), timeout=self.timeout, follow_redirects=False)

    async def alogin(
        self, *, client: httpx.AsyncClient | None = None, session_timeout: float = DEFAULT_SESSION_TIMEOUT
    ) -> SalesforceToken:
        """As :meth:`login`, over ``httpx.AsyncClient``."""
        issued_at = self.clock.now()
        try:
            if client is not None:
                response = await self._apost(client)
            else:
                async with httpx.AsyncClient(trust_env=False) as own:
                    response = await self._apost(own)
        except httpx.HTTPError as exc:
            raise _unavailable(exc) from None
        return _read_token(response, issued_at=issued_at, session_timeout=session_timeout)

    async def _apost(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(self.token_url, data=self._form(), timeout=self.timeout, follow_redirects=False)


def _unavailable(exc: Exception) -> SalesforceUnavailable:
    # The exception text of a transport error names the URL at most; never the request body.
    return SalesforceUnavailable(f"no answer from Salesforce's token endpoint: {type(exc).__name__}")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _login_error(status: int, document: Mapping[str, Any]) -> SalesforceLoginError:
    error = document.get("error")
    description = document.get("error_description")
    error = error if isinstance(error, str) else ""
    description = description if isinstance(description, str) else ""
    if error == "invalid_client_id":
        cls: type[SalesforceLoginError] = SalesforceClientUnknown
    else:
        cls = _DESCRIPTION_ERRORS.get(description.lower(), SalesforceLoginError)
    shown_error = error if _SAFE_CODE.fullmatch(error) else "?"
    shown = f": {description}" if _SAFE_DESCRIPTION.fullmatch(description) else ""
    return cls(
        f"Salesforce refused the JWT bearer login (HTTP {status}, {shown_error}{shown})",
        error=error,
        error_description=description,
        status_code=status,
    )


def _read_token(response: httpx.Response, *, issued_at: float, session_timeout: float) -> SalesforceToken:
    status = response.status_code
    document = _json_or_none(response)
    if status != 200:
        if isinstance(document, dict) and "error" in document:
            raise _login_error(status, document)
        raise SalesforceUnavailable(f"Salesforce's token endpoint answered HTTP {status} without an OAuth error")
    if not isinstance(document, dict):
        raise SalesforceUnavailable("Salesforce's token endpoint answered HTTP 200 with a body that is not JSON")
    token, instance_url = document.get("access_token"), document.get("instance_url")
    if not isinstance(token, str) or not token or not isinstance(instance_url, str) or not instance_url:
        raise SalesforceUnavailable("Salesforce's token answer lacks access_token or instance_url")
    return SalesforceToken(
        access_token=token,
        instance_url=instance_url.rstrip("/"),
        id=str(document.get("id") or ""),
        scope=str(document.get("scope") or ""),
        token_type=str(document.get("token_type") or "Bearer"),
        issued_at=issued_at,
        expires_at=issued_at + session_timeout,
    )


def _is_invalid_session(response: httpx.Response) -> bool:
    """Salesforce's REST answer to an expired or revoked session: 401 with ``INVALID_SESSION_ID``."""
    if response.status_code != 401:
        return False
    document = _json_or_none(response)
    items = document if isinstance(document, list) else [document]
    return any(isinstance(item, dict) and item.get("errorCode") == "INVALID_SESSION_ID" for item in items)


class _SessionBase:
    def __init__(self, login: SalesforceJWTLogin, *, session_timeout: float, refresh_before: float) -> None:
        if session_timeout <= 0 or not 0 <= refresh_before < session_timeout:
            raise ConfigurationError("session_timeout must be positive and refresh_before in [0, session_timeout)")
        self.login = login
        self.session_timeout = session_timeout
        self.refresh_before = refresh_before
        self._token: SalesforceToken | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(login={self.login!r})"

    def _cached(self) -> SalesforceToken | None:
        token = self._token
        if token is not None and self.login.clock.now() < token.expires_at - self.refresh_before:
            return token
        return None

    def invalidate(self) -> None:
        """Forget the cached token; the next call logs in again."""
        self._token = None

    def _url(self, token: SalesforceToken, path: str) -> str:
        if path.startswith(("http://", "https://")):
            raise ConfigurationError("pass a path on the instance (e.g. /services/data/v62.0/), not a full URL")
        return token.instance_url + "/" + path.lstrip("/")


class SalesforceSession(_SessionBase):
    """A cached Salesforce token for one :class:`SalesforceJWTLogin`, and authenticated API calls.

    The token is reused until ``session_timeout - refresh_before`` seconds after login; an API call
    that answers 401 ``INVALID_SESSION_ID`` earlier causes one new login and one retry.
    """

    def __init__(
        self,
        login: SalesforceJWTLogin,
        *,
        client: httpx.Client | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        refresh_before: float = 60.0,
    ) -> None:
        super().__init__(login, session_timeout=session_timeout, refresh_before=refresh_before)
        self._client = client if client is not None else httpx.Client(trust_env=False)
        self._owns_client = client is None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> SalesforceSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def token(self) -> SalesforceToken:
        """The cached token, or a new one from a login."""
        with self._lock:  # one login at a time: concurrent callers share its result
            cached = self._cached()
            if cached is None:
                cached = self._token = self.login.login(client=self._client, session_timeout=self.session_timeout)
            return cached

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` ``path`` on the token's instance URL with the token as Bearer credential.

        Returns the response whatever its status (after at most one re-login); httpx transport
        errors of the API call propagate, login failures raise as :meth:`SalesforceJWTLogin.login`.
        """
        token = self.token()
        response = self._send(token, method, path, kwargs)
        if _is_invalid_session(response):
            with self._lock:
                if self._token is token:
                    self._token = None
            response = self._send(self.token(), method, path, kwargs)
        return response

    def _send(self, token: SalesforceToken, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        extra = dict(kwargs)  # a copy: the retry after a re-login sends the same arguments
        headers = {**(extra.pop("headers", None) or {}), "Authorization": f"Bearer {token.access_token}"}
        extra.setdefault("timeout", self.login.timeout)
        return self._client.request(method, self._url(token, path), headers=headers, **extra)


class AsyncSalesforceSession(_SessionBase):
    """:class:`SalesforceSession` over ``httpx.AsyncClient``."""

    def __init__(
        self,
        login: SalesforceJWTLogin,
        *,
        client: httpx.AsyncClient | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        refresh_before: float = 60.0,
    ) -> None:
        super().__init__(login, session_timeout=session_timeout, refresh_before=refresh_before)
        self._client = client if client is not None else httpx.AsyncClient(trust_env=False)
        self._owns_client = client is None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncSalesforceSession:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def token(self) -> SalesforceToken:
        """The cached token, or a new one from a login."""
        async with self._lock:
            cached = self._cached()
            if cached is None:
                cached = self._token = await self.login.alogin(
                    client=self._client, session_timeout=self.session_timeout
                )
            return cached

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """As :meth:`SalesforceSession.request`, awaited."""
        token = await self.token()
        response = await self._send(token, method, path, kwargs)
        if _is_invalid_session(response):
            async with self._lock:
                if self._token is token:
                    self._token = None
            response = await self._send(await self.token(), method, path, kwargs)
        return response

    async def _send(self, token: SalesforceToken, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        extra = dict(kwargs)
        headers = {**(extra.pop("headers", None) or {}), "Authorization": f"Bearer {token.access_token}"}
        extra.setdefault("timeout", self.login.timeout)
        return await self._client.request(method, self._url(token, path), headers=headers, **extra)
