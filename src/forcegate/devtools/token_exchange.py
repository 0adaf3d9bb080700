"""Apex ``Auth.JWTBearerTokenExchange``: POST a signed JWT to a token endpoint for an access token.

Sources (Apex Reference Guide, API 67.0, ``JWTBearerTokenExchange`` class, developer.salesforce.com/
docs/atlas.en-us.apexref.meta/apexref/apex_class_Auth_JWTBearerTokenExchange.htm):

* Constructors ``JWTBearerTokenExchange(String tokenEndpoint, Auth.JWS jws)`` and
  ``JWTBearerTokenExchange()``; methods ``clone``, ``getAccessToken``, ``getGrantType`` (defaults to
  ``urn:ietf:params:oauth:grant-type:jwt-bearer``), ``getHttpResponse``, ``getJWS``,
  ``getTokenEndpoint``, ``setGrantType``, ``setJWS``, ``setTokenEndpoint``.
* ``getAccessToken`` "extracts the access_token from the token response. If the token response
  issues the access token in a different parameter, the request fails."
* A refused request surfaces in Apex as ``Auth.JWTBearerTokenExchange.JWTBearerTokenExchangeException:
  Error 400: {"error":"invalid_grant",...}`` (as reported in salesforce.stackexchange.com/questions/
  282513), i.e. an exception that carries the status and body.

The request is the RFC 7523 §2.1 grant with nothing else: form fields ``grant_type`` and
``assertion``, no client credentials and no ``Authorization`` header (Apex Reference, ``Auth.JWTBearerTokenExchange``).
Redirects are not followed.

Choices where Apex differs or is unclear: :meth:`JWTBearerTokenExchange.http_response` returns the
response of the last :meth:`~JWTBearerTokenExchange.access_token` call and makes no request (the
reference does not say whether ``getHttpResponse`` POSTs by itself); and failures raise
:class:`~forcegate.errors.TokenExchangeError`, whose ``body`` holds the response body while its
message never contains the body, the assertion or any token.
"""

from __future__ import annotations

import json
import re

import httpx

from forcegate.devtools.apex_jwt import AuthJWS
from forcegate.errors import ConfigurationError, TokenExchangeError

__all__ = ["GRANT_TYPE", "AsyncJWTBearerTokenExchange", "JWTBearerTokenExchange"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Only a short code-like "error" value goes into messages; error_description is free text that a
# server could fill with anything, so it stays in the body.
_OAUTH_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MAX_TRANSPORT_DETAIL = 200


class _TokenExchangeBase:
    """State and response handling shared by the sync and async exchanges."""

    GRANT_TYPE = GRANT_TYPE

    def __init__(self, token_endpoint: str | None, jws: AuthJWS | None, *, timeout: float) -> None:
        self._token_endpoint = token_endpoint
        self._jws = jws
        self._grant_type = GRANT_TYPE
        self._timeout = timeout
        self._last_response: httpx.Response | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token_endpoint={self._token_endpoint!r}, jws={self._jws!r})"

    def get_token_endpoint(self) -> str | None:
        """``getTokenEndpoint()``: the URL the assertion is POSTed to."""
        return self._token_endpoint

    def set_token_endpoint(self, token_endpoint: str | None) -> None:
        """``setTokenEndpoint(tokenEndpoint)``."""
        self._token_endpoint = token_endpoint

    def get_jws(self) -> AuthJWS | None:
        """``getJWS()``: the signed JWT that is sent as ``assertion``."""
        return self._jws

    def set_jws(self, jws: AuthJWS | None) -> None:
        """``setJWS(jws)``."""
        self._jws = jws

    def get_grant_type(self) -> str:
        """``getGrantType()``: defaults to ``urn:ietf:params:oauth:grant-type:jwt-bearer``."""
        return self._grant_type

    def set_grant_type(self, grant_type: str) -> None:
        """``setGrantType(grantType)``: Apex allows overriding the grant type; so does the emulator."""
        self._grant_type = grant_type

    def http_response(self) -> httpx.Response:
        """The response to the last request (cf. ``getHttpResponse()``), whatever its status.

        Raises :class:`~forcegate.errors.ConfigurationError` before any request was answered,
        including when the last attempt failed at the transport level.
        """
        if self._last_response is None:
            raise ConfigurationError("no token response yet: call access_token() first")
        return self._last_response

    def _request_parts(self) -> tuple[str, dict[str, str]]:
        if not self._token_endpoint:
            raise ConfigurationError("no token endpoint set")
        if self._jws is None:
            raise ConfigurationError("no JWS set")
        self._last_response = None
        form = {"grant_type": self._grant_type, "assertion": self._jws.compact_serialization()}
        return self._token_endpoint, form

    def _accept(self, response: httpx.Response) -> str:
        self._last_response = response
        return _read_access_token(response)


def _strip_credentials(request: httpx.Request) -> httpx.Request:
    # A caller's client may carry default headers; Apex sends no Authorization, so neither do we.
    request.headers.pop("Authorization", None)
    return request


def _transport_error(exc: Exception) -> TokenExchangeError:
    detail = str(exc)[:_MAX_TRANSPORT_DETAIL] or "no detail"
    return TokenExchangeError(
        f"no answer from the token endpoint: {type(exc).__name__}: {detail}", status_code=0, body=""
    )


def _oauth_error_hint(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return ""
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, str) and _OAUTH_ERROR_CODE.fullmatch(error):
            return f" (error={error})"
    return ""


def _read_access_token(response: httpx.Response) -> str:
    status, body = response.status_code, response.text
    if status != 200:
        hint = _oauth_error_hint(response.content)
        raise TokenExchangeError(f"token endpoint answered HTTP {status}{hint}", status_code=status, body=body)
    try:
        document = json.loads(response.content)
    except ValueError:  # includes UnicodeDecodeError
        raise TokenExchangeError(
            "token endpoint answered HTTP 200 with a body that is not JSON", status_code=status, body=body
        ) from None
    token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenExchangeError(
            "token endpoint answered HTTP 200 without a non-empty string access_token", status_code=status, body=body
        )
    return token


class JWTBearerTokenExchange(_TokenExchangeBase):
    """Apex ``Auth.JWTBearerTokenExchange`` over a synchronous ``httpx.Client``."""

    def __init__(
        self,
        token_endpoint: str | None = None,
        jws: AuthJWS | None = None,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        """``new Auth.JWTBearerTokenExchange(tokenEndpoint, jws)`` or ``()``.

        ``client`` is used as given and never closed; without one, each call opens a client that
        ignores proxy and ``.netrc`` settings from the environment (``trust_env=False``), so no
        credentials are added. ``timeout`` (seconds) applies to every request either way.
        """
        super().__init__(token_endpoint, jws, timeout=timeout)
        self._client = client

    def clone(self) -> JWTBearerTokenExchange:
        """``clone()``: same endpoint, JWS, grant type, client and timeout; no response yet."""
        twin = JWTBearerTokenExchange(self._token_endpoint, self._jws, client=self._client, timeout=self._timeout)
        twin._grant_type = self._grant_type
        return twin

    def access_token(self) -> str:
        """``getAccessToken()``: POST the grant and return the ``access_token`` of a 200 JSON answer.

        Raises :class:`~forcegate.errors.TokenExchangeError` for any other answer (``status_code``
        and ``body`` as received) and for transport failures (``status_code`` 0, empty ``body``).
        """
        url, form = self._request_parts()
        try:
            if self._client is not None:
                response = self._send(self._client, url, form)
            else:
                with httpx.Client(trust_env=False) as client:
                    response = self._send(client, url, form)
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise _transport_error(exc) from None
        return self._accept(response)

    def _send(self, client: httpx.Client, url: str, form: dict[str, str]) -> httpx.Response:
        request = _strip_credentials(client.build_request("POST", url, data=form, timeout=self._timeout))
        # auth=httpx.Auth() is the no-op scheme: it overrides any auth configured on the client.
        return client.send(request, auth=httpx.Auth(), follow_redirects=False)


class AsyncJWTBearerTokenExchange(_TokenExchangeBase):
    """The same exchange over ``httpx.AsyncClient``, for async services and tests."""

    def __init__(
        self,
        token_endpoint: str | None = None,
        jws: AuthJWS | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        """As :class:`JWTBearerTokenExchange`, with an optional ``httpx.AsyncClient``."""
        super().__init__(token_endpoint, jws, timeout=timeout)
        self._client = client

    def clone(self) -> AsyncJWTBearerTokenExchange:
        """``clone()``: same endpoint, JWS, grant type, client and timeout; no response yet."""
        twin = AsyncJWTBearerTokenExchange(self._token_endpoint, self._jws, client=self._client, timeout=self._timeout)
        twin._grant_type = self._grant_type
        return twin

    async def access_token(self) -> str:
        """As :meth:`JWTBearerTokenExchange.access_token`, awaited."""
        url, form = self._request_parts()
        try:
            if self._client is not None:
                response = await self._send(self._client, url, form)
            else:
                async with httpx.AsyncClient(trust_env=False) as client:
                    response = await self._send(client, url, form)
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise _transport_error(exc) from None
        return self._accept(response)

    async def _send(self, client: httpx.AsyncClient, url: str, form: dict[str, str]) -> httpx.Response:
        request = _strip_credentials(client.build_request("POST", url, data=form, timeout=self._timeout))
        return await client.send(request, auth=httpx.Auth(), follow_redirects=False)
