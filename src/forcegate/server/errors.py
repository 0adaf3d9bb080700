"""ForcegateError -> HTTP: RFC 6749 §5.2 JSON at the token endpoint, RFC 6750 §3 at the API.

Responses say only the OAuth error (``invalid_grant``); the audit log and the server log say which
check failed. In development mode the reason is added as ``error_description`` to ease debugging.
"""

from __future__ import annotations

from typing import Any

from forcegate.errors import (
    AuthenticationRequired,
    ConfigurationError,
    ForcegateError,
    InsufficientScope,
    RateLimited,
    RequestError,
    StoreUnavailable,
    TokenError,
)

__all__ = ["NoCredentials", "api_error", "retry_after", "token_endpoint_error"]


def token_endpoint_error(exc: ForcegateError, *, development: bool) -> tuple[int, dict[str, Any]]:
    """Status and body for a refusal at ``/oauth2/token`` (RFC 6749 §5.2: 400 for every grant error)."""
    if isinstance(exc, StoreUnavailable):
        status, error = 503, "temporarily_unavailable"
    elif isinstance(exc, ConfigurationError):
        status, error = 500, "server_error"
    elif isinstance(exc, RateLimited):
        status, error = 429, "slow_down"
    elif isinstance(exc, TokenError):
        status, error = 400, "invalid_grant"
    else:
        status, error = 400, exc.oauth_error
    body: dict[str, Any] = {"error": error}
    # Errors about the shape of the request (not about trust) are safe to describe to the caller.
    if development or isinstance(exc, RequestError):
        body["error_description"] = exc.reason
    return status, body


def api_error(exc: ForcegateError, *, development: bool) -> tuple[int, dict[str, Any], str]:
    """Status, body and ``WWW-Authenticate`` value for a refusal at a protected resource (RFC 6750 §3)."""
    if isinstance(exc, StoreUnavailable):
        return 503, {"error": "temporarily_unavailable"}, ""
    if isinstance(exc, ConfigurationError):
        return 500, {"error": "server_error"}, ""
    if isinstance(exc, NoCredentials):
        # §3.1: a request without any authentication information gets no error code in the challenge.
        return 401, {"error": "unauthorized"}, 'Bearer realm="forcegate"'
    if isinstance(exc, InsufficientScope):
        status, error = 403, "insufficient_scope"
    elif isinstance(exc, RateLimited):
        status, error = 429, "slow_down"
    elif isinstance(exc, RequestError) and not isinstance(exc, AuthenticationRequired):
        status, error = 400, "invalid_request"
    else:
        status, error = 401, "invalid_token"
    body: dict[str, Any] = {"error": error}
    if development:
        body["error_description"] = exc.reason
    return status, body, f'Bearer realm="forcegate", error="{error}"'


def retry_after(exc: ForcegateError) -> str | None:
    """The ``Retry-After`` value (RFC 9110 §10.2.3, seconds) for a refusal that is only a matter of time."""
    return str(exc.retry_after) if isinstance(exc, RateLimited) else None


class NoCredentials(AuthenticationRequired):
    """The request carried no credential at all (not a wrong one)."""
