"""ForcegateError -> HTTP: terse OAuth errors at the edge, details only where they describe the request."""

from __future__ import annotations

import pytest

from forcegate.errors import (
    AssertionReplayed,
    AuthenticationRequired,
    ConfigurationError,
    ForcegateError,
    InsufficientScope,
    InvalidAccessToken,
    InvalidScope,
    InvalidSignature,
    OrgDisabled,
    RateLimited,
    RequestError,
    StoreUnavailable,
    TokenRevoked,
    UnsupportedGrantType,
)
from forcegate.server.errors import NoCredentials, api_error, retry_after, token_endpoint_error

CHALLENGE = 'Bearer realm="forcegate", error='


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (InvalidSignature("bad signature for key k1"), 400, {"error": "invalid_grant"}),
        (OrgDisabled("org 00D… is disabled"), 400, {"error": "invalid_grant"}),
        (AssertionReplayed("used"), 400, {"error": "invalid_grant"}),
        (RequestError("no assertion"), 400, {"error": "invalid_request", "error_description": "no assertion"}),
        (UnsupportedGrantType("nope"), 400, {"error": "unsupported_grant_type", "error_description": "nope"}),
        (InvalidScope("admin"), 400, {"error": "invalid_scope", "error_description": "admin"}),
        (StoreUnavailable("db down"), 503, {"error": "temporarily_unavailable"}),
        (ConfigurationError("no key"), 500, {"error": "server_error"}),
        (RateLimited("org 00D… spent 600", retry_after=7), 429, {"error": "slow_down"}),
    ],
)  # fmt: skip
def test_token_endpoint_errors(error: ForcegateError, status: int, body: dict[str, str]) -> None:
    assert token_endpoint_error(error, development=False) == (status, body)


def test_development_mode_describes_trust_failures_too() -> None:
    status, body = token_endpoint_error(InvalidSignature("no key verified it"), development=True)
    assert (status, body) == (400, {"error": "invalid_grant", "error_description": "no key verified it"})


@pytest.mark.parametrize(
    ("error", "status", "error_code", "challenge"),
    [
        (NoCredentials("none"), 401, "unauthorized", 'Bearer realm="forcegate"'),
        (InvalidAccessToken("expired"), 401, "invalid_token", 'Bearer realm="forcegate", error="invalid_token"'),
        (TokenRevoked("revoked"), 401, "invalid_token", 'Bearer realm="forcegate", error="invalid_token"'),
        (InvalidSignature("forged"), 401, "invalid_token", 'Bearer realm="forcegate", error="invalid_token"'),
        (AuthenticationRequired("admin token does not match"), 401, "invalid_token", CHALLENGE + '"invalid_token"'),
        (RequestError("not Bearer"), 400, "invalid_request", 'Bearer realm="forcegate", error="invalid_request"'),
        (InsufficientScope("orders:read"), 403, "insufficient_scope", CHALLENGE + '"insufficient_scope"'),
        (StoreUnavailable("down"), 503, "temporarily_unavailable", ""),
        (RateLimited("spent", retry_after=7), 429, "slow_down", CHALLENGE + '"slow_down"'),
    ],
)  # fmt: skip
def test_api_errors_follow_rfc6750(error: ForcegateError, status: int, error_code: str, challenge: str) -> None:
    got_status, body, got_challenge = api_error(error, development=False)
    assert (got_status, body, got_challenge) == (status, {"error": error_code}, challenge)


def test_only_a_rate_limit_says_when_to_retry() -> None:
    assert retry_after(RateLimited("org 00D… spent 600", retry_after=42)) == "42"
    assert retry_after(StoreUnavailable("down")) is None
    assert retry_after(AssertionReplayed("used")) is None
