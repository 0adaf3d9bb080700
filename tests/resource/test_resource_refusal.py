"""Refusal: one exception an adapter renders, with the resource edge's (or the Canvas edge's) answer."""

from __future__ import annotations

import json

from forcegate.errors import (
    CanvasSignatureInvalid,
    ConfigurationError,
    InvalidAccessToken,
    NoCredentials,
    RateLimited,
    StoreUnavailable,
)
from forcegate.resource import Refusal
from forcegate.resource._refusal import refusal

CHALLENGE = 'Bearer realm="forcegate"'


def test_a_refused_token_is_terse_and_challenged() -> None:
    error = InvalidAccessToken("ES256 signature does not verify")
    answer = refusal(error, development=False)
    assert isinstance(answer, Refusal)
    assert answer.__cause__ is error
    assert (answer.status, answer.oauth_error, answer.code) == (401, "invalid_token", "invalid_access_token")
    assert answer.body == {"error": "invalid_token"}
    assert answer.headers == (
        ("cache-control", "no-store"),
        ("pragma", "no-cache"),
        ("www-authenticate", f'{CHALLENGE}, error="invalid_token"'),
    )
    assert json.loads(answer.json()) == {"error": "invalid_token"}
    assert str(answer) == "401 invalid_token (invalid_access_token: ES256 signature does not verify)"


def test_development_mode_tells_why() -> None:
    answer = refusal(InvalidAccessToken("audience 'x' is not this service"), development=True)
    assert answer.body == {
        "error": "invalid_token",
        "error_description": "audience 'x' is not this service",
        "code": "invalid_access_token",
    }


def test_a_rate_limit_says_when_to_retry() -> None:
    answer = refusal(RateLimited("too many", retry_after=17), development=False)
    assert (answer.status, answer.retry_after, answer.code) == (429, 17, "rate_limited")
    assert ("retry-after", "17") in answer.headers
    assert answer.body["code"] == "rate_limited"  # harmless: the caller's own rate


def test_outages_and_faults_are_not_challenged_and_say_nothing() -> None:
    outage = refusal(StoreUnavailable("postgresql://db:5432 refused"), development=False)
    assert (outage.status, outage.body, outage.challenge) == (503, {"error": "temporarily_unavailable"}, None)
    fault = refusal(ConfigurationError("no signing key"), development=False)
    assert (fault.status, fault.body, fault.challenge) == (500, {"error": "server_error"}, None)


def test_no_credential_is_a_bare_challenge() -> None:
    assert refusal(NoCredentials("none"), development=False).challenge == CHALLENGE


def test_a_canvas_refusal_is_for_a_page() -> None:
    answer = refusal(CanvasSignatureInvalid("bad HMAC"), development=False, canvas=True)
    assert (answer.status, answer.challenge, answer.code) == (401, None, "canvas_signature_invalid")
    assert dict(answer.headers) == {"cache-control": "no-store", "pragma": "no-cache"}
