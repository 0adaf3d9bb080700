"""ForcegateError -> HTTP, in one place: terse OAuth errors at each edge, details only where they are harmless."""

from __future__ import annotations

import json

import pytest

from forcegate.errors import (
    AlreadyExists,
    AssertionReplayed,
    AuthenticationRequired,
    CanvasOrgRefused,
    CanvasSignatureInvalid,
    ConfigurationError,
    ForcegateError,
    InsufficientScope,
    InvalidAccessToken,
    InvalidInput,
    InvalidScope,
    InvalidSignature,
    MalformedCredentials,
    NoCredentials,
    NotFound,
    OrgDisabled,
    RateLimited,
    RequestError,
    SignedRequestTooLarge,
    StoreUnavailable,
    TokenRevoked,
    UnsupportedGrantType,
    WeakKeyError,
)
from forcegate.server.responses import Edge, edge_of, render_error

CHALLENGE = 'Bearer realm="forcegate"'


def rendered(error: ForcegateError, edge: Edge, *, development: bool = False) -> tuple[int, object, dict[str, str]]:
    answer = render_error(error, edge, development=development)
    headers = {k.decode(): v.decode() for k, v in answer.headers}
    body = json.loads(answer.body) if headers["content-type"] == "application/json" else answer.body.decode()
    return answer.status, body, headers


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (InvalidSignature("bad signature for key k1"), 400, {"error": "invalid_grant"}),
        (OrgDisabled("org 00D… is disabled"), 400, {"error": "invalid_grant"}),
        (AssertionReplayed("used"), 400, {"error": "invalid_grant"}),
        (RequestError("no assertion"),
         400, {"error": "invalid_request", "error_description": "no assertion", "code": "invalid_request"}),
        (UnsupportedGrantType("nope"),
         400, {"error": "unsupported_grant_type", "error_description": "nope", "code": "unsupported_grant_type"}),
        (InvalidScope("admin"),
         400, {"error": "invalid_scope", "error_description": "admin", "code": "invalid_scope"}),
        (StoreUnavailable("PostgreSQL at postgresql://user@db:5432 refused"),
         503, {"error": "temporarily_unavailable"}),
        (ConfigurationError("no key"), 500, {"error": "server_error"}),
        (RateLimited("org spent 600", retry_after=7),
         429, {"error": "slow_down", "error_description": "org spent 600", "code": "rate_limited"}),
    ],
)  # fmt: skip
def test_token_endpoint_errors(error: ForcegateError, status: int, body: dict[str, str]) -> None:
    got_status, got_body, headers = rendered(error, Edge.TOKEN)
    assert (got_status, got_body) == (status, body)
    assert headers["cache-control"] == "no-store"
    assert "www-authenticate" not in headers  # RFC 6749 §5.2: no challenge for a grant error


def test_trust_failures_are_opaque_unless_in_development() -> None:
    assert rendered(InvalidSignature("no key verified it"), Edge.TOKEN)[1] == {"error": "invalid_grant"}
    _, body, _ = rendered(InvalidSignature("no key verified it"), Edge.TOKEN, development=True)
    assert body == {"error": "invalid_grant", "error_description": "no key verified it", "code": "invalid_signature"}


@pytest.mark.parametrize(
    ("error", "status", "error_code", "challenge"),
    [
        (NoCredentials("none"), 401, "invalid_token", CHALLENGE),
        (InvalidAccessToken("expired"), 401, "invalid_token", CHALLENGE + ', error="invalid_token"'),
        (TokenRevoked("revoked"), 401, "invalid_token", CHALLENGE + ', error="invalid_token"'),
        (InvalidSignature("forged"), 401, "invalid_token", CHALLENGE + ', error="invalid_token"'),
        (AuthenticationRequired("admin token does not match"),
         401, "invalid_token", CHALLENGE + ', error="invalid_token"'),
        (MalformedCredentials("not Bearer"), 400, "invalid_request", CHALLENGE + ', error="invalid_request"'),
        (InsufficientScope("orders:read"), 403, "insufficient_scope", CHALLENGE + ', error="insufficient_scope"'),
        (StoreUnavailable("down"), 503, "temporarily_unavailable", None),
        (RateLimited("spent", retry_after=7), 429, "slow_down", CHALLENGE + ', error="slow_down"'),
    ],
)  # fmt: skip
def test_resource_errors_follow_rfc6750(error: ForcegateError, status: int, error_code: str, challenge: str) -> None:
    got_status, body, headers = rendered(error, Edge.RESOURCE)
    assert got_status == status
    assert isinstance(body, dict)
    assert body["error"] == error_code
    assert headers.get("www-authenticate") == challenge


def test_a_rate_limit_says_when_to_retry_at_every_edge() -> None:
    for edge in (Edge.TOKEN, Edge.RESOURCE, Edge.ADMIN):
        assert rendered(RateLimited("spent", retry_after=42), edge)[2]["retry-after"] == "42"
    assert "retry-after" not in rendered(StoreUnavailable("down"), Edge.RESOURCE)[2]


@pytest.mark.parametrize(
    ("error", "status", "oauth_error"),
    [
        (InvalidInput("name must be a string"), 400, "invalid_request"),
        (WeakKeyError("RSA modulus of 1024 bits"), 400, "invalid_request"),
        (NotFound("no org"), 404, "invalid_request"),
        (AlreadyExists("again"), 409, "invalid_request"),
        (NoCredentials("admin token missing"), 401, "invalid_token"),
        (StoreUnavailable("down"), 503, "temporarily_unavailable"),
    ],
)
def test_admin_errors_say_everything_to_the_admin(error: ForcegateError, status: int, oauth_error: str) -> None:
    got_status, body, headers = rendered(error, Edge.ADMIN)
    assert got_status == status
    assert body == {"error": oauth_error, "error_description": error.reason, "code": error.code}
    assert ("www-authenticate" in headers) == (status == 401)


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (CanvasSignatureInvalid("bad"), 401, "Canvas request refused"),
        (CanvasOrgRefused("disabled"), 403, "Canvas request refused"),
        (SignedRequestTooLarge("big"), 413, "Canvas request refused"),
        (RequestError("no signed_request"), 400, "Canvas request refused"),
        (NoCredentials("no session cookie"), 401, "Not signed in"),
        (StoreUnavailable("down"), 503, "Unavailable"),
    ],
)
def test_canvas_errors_are_pages(error: ForcegateError, status: int, title: str) -> None:
    got_status, body, headers = rendered(error, Edge.CANVAS)
    assert got_status == status
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert isinstance(body, str)
    assert title in body
    assert error.reason not in body  # the reason is for the log, not the browser


def test_edges_by_path() -> None:
    assert edge_of("/oauth2/token") is Edge.TOKEN
    assert edge_of("/api/v1/me") is Edge.RESOURCE
    assert edge_of("/oauth2/introspect") is Edge.RESOURCE
    assert edge_of("/admin/api/v1/orgs") is Edge.ADMIN
    assert edge_of("/canvas") is Edge.CANVAS
    assert edge_of("/canvas/3MVG9_key") is Edge.CANVAS
    assert edge_of("/canvasx") is Edge.RESOURCE
