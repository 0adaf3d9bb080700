"""JWKSVerifier against a real local HTTP server: the checks, the key cache, its bounds, sync and async."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from forcegate import ForcegateSecurityWarning
from forcegate.clock import FixedClock
from forcegate.errors import ConfigurationError
from forcegate.resource import JWKSVerifier, Refusal
from resource_support import ISSUER, ORG_ID, USER_ID, KeyServer, Signer, key_server

CHALLENGE = 'Bearer realm="forcegate"'


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(float(int(time.time())))


@pytest.fixture
def server() -> Iterator[KeyServer]:
    with key_server() as running:
        yield running


@pytest.fixture
def signer(clock: FixedClock, server: KeyServer) -> Signer:
    signing = Signer.new(clock)
    server.publish((signing.key, signing.kid))
    return signing


@pytest.fixture
def verifier(server: KeyServer, clock: FixedClock) -> Iterator[JWKSVerifier]:
    made = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock, timeout=2, refetch_interval=10, keys_max_age=300)
    try:
        yield made
    finally:
        made.close()


def refused(verifier: JWKSVerifier, authorization: str | None, **kwargs: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        verifier.verify(authorization, **kwargs)
    return caught.value


def with_header(token: str, **changes: object) -> str:
    """``token`` with its header changed (the signature no longer matters for the kid tests)."""
    head, rest = token.split(".", 1)
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{rest}"


# --- the checks -------------------------------------------------------------------------------------------


def test_a_token_verifies_into_the_unified_identity(verifier: JWKSVerifier, signer: Signer, server: KeyServer) -> None:
    token = signer.token()
    identity = verifier.verify(f"Bearer {token}", scopes=["orders:read"])
    assert (identity.source, identity.org_id, identity.user_id) == ("jwt-bearer", ORG_ID, USER_ID)
    assert identity.scopes == {"api", "orders:read"}
    assert dict(identity.parameters) == {"region": "EMEA"}
    # Fetched once; the next calls (this token again, another token) are served from the cache.
    assert verifier.verify(f"Bearer {token}") == identity
    verifier.verify(f"Bearer {signer.token(scopes=('api',))}")
    assert server.fetches == 1


def test_no_credential_is_a_bare_challenge(verifier: JWKSVerifier, server: KeyServer) -> None:
    refusal = refused(verifier, None)
    assert (refusal.status, refusal.code, refusal.challenge) == (401, "no_credentials", CHALLENGE)
    assert dict(refusal.headers) == {"cache-control": "no-store", "pragma": "no-cache", "www-authenticate": CHALLENGE}
    # A session cookie is no credential for a JWKS verifier.
    assert refused(verifier, None, session="abc").code == "no_credentials"
    assert server.fetches == 0  # nothing to verify: nothing fetched


def test_the_authorization_grammar_is_the_services(verifier: JWKSVerifier) -> None:
    malformed = refused(verifier, "Bearer ")
    assert (malformed.status, malformed.oauth_error) == (400, "invalid_request")
    assert malformed.body == {
        "error": "invalid_request",
        "error_description": "the Authorization header must be 'Bearer <token>' (RFC 6750 §2.1)",
        "code": "malformed_credentials",
    }
    other_scheme = refused(verifier, "Basic dXNlcjpwYXNz")
    assert (other_scheme.status, other_scheme.challenge) == (401, f'{CHALLENGE}, error="invalid_token"')


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"audience": "https://other.example.com"}, "audience"),
        ({"issuer": "https://evil.example.com"}, "issuer"),
    ],
)
def test_issuer_and_audience_must_be_the_services(
    verifier: JWKSVerifier, signer: Signer, change: dict[str, Any], reason: str
) -> None:
    refusal = refused(verifier, f"Bearer {signer.token(**change)}")
    assert (refusal.status, refusal.body) == (401, {"error": "invalid_token"})  # terse to the caller
    assert refusal.code == "invalid_access_token"
    assert reason in refusal.error.reason  # the log has why


def test_a_verifier_for_another_audience_refuses_the_services_tokens(
    server: KeyServer, signer: Signer, clock: FixedClock
) -> None:
    other = JWKSVerifier(ISSUER, audience="https://orders.example.com", jwks_url=server.url, clock=clock)
    try:
        assert "audience" in refused(other, f"Bearer {signer.token()}").error.reason
    finally:
        other.close()


def test_a_tampered_or_expired_token_is_refused(verifier: JWKSVerifier, signer: Signer, clock: FixedClock) -> None:
    token = signer.token(lifetime=60)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "api orders:read admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "signature" in refused(verifier, f"Bearer {head}.{forged}.{signature}").error.reason
    clock.advance(60 + 60)  # exp + the default leeway
    assert "expired" in refused(verifier, f"Bearer {token}").error.reason


def test_alg_and_typ_are_pinned(verifier: JWKSVerifier, signer: Signer) -> None:
    token = signer.token()
    assert refused(verifier, f"Bearer {with_header(token, alg='HS256')}").status == 401
    assert "typ" in refused(verifier, f"Bearer {with_header(token, typ='JWT')}").error.reason


def test_a_missing_scope_is_403_insufficient_scope(verifier: JWKSVerifier, signer: Signer) -> None:
    refusal = refused(verifier, f"Bearer {signer.token(scopes=('api',))}", scopes=["orders:write"])
    assert (refusal.status, refusal.oauth_error, refusal.code) == (403, "insufficient_scope", "insufficient_scope")
    assert refusal.challenge == f'{CHALLENGE}, error="insufficient_scope"'


def test_development_mode_tells_the_caller_which_check_failed(
    server: KeyServer, signer: Signer, clock: FixedClock
) -> None:
    developing = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock, development=True)
    try:
        refusal = refused(developing, f"Bearer {signer.token(audience='https://x.example.com')}")
        assert refusal.body["code"] == "invalid_access_token"
        assert "audience" in refusal.body["error_description"]
        assert json.loads(refusal.json()) == dict(refusal.body)
    finally:
        developing.close()


# --- the key cache and its bounds -------------------------------------------------------------------------


def test_an_unknown_kid_refetches_once_the_service_rotated(
    verifier: JWKSVerifier, signer: Signer, server: KeyServer, clock: FixedClock
) -> None:
    verifier.verify(f"Bearer {signer.token()}")
    rotated = Signer.new(clock)
    server.publish((signer.key, signer.kid), (rotated.key, rotated.kid))
    clock.advance(11)  # past refetch_interval since the first fetch
    assert verifier.verify(f"Bearer {rotated.token()}").org_id == ORG_ID
    assert server.fetches == 2


def test_made_up_kids_cannot_make_it_hammer_the_service(
    verifier: JWKSVerifier, signer: Signer, server: KeyServer, clock: FixedClock
) -> None:
    token = signer.token()
    verifier.verify(f"Bearer {token}")
    clock.advance(11)
    for n in range(50):
        assert refused(verifier, f"Bearer {with_header(token, kid=f'made-up-{n}')}").status == 401
    assert server.fetches == 2  # one refetch for the first unknown kid, none for the next 49
    clock.advance(10)
    refused(verifier, f"Bearer {with_header(token, kid='made-up-again')}")
    assert server.fetches == 3


def test_keys_are_refetched_after_their_max_age_and_stale_ones_serve_only_so_long(
    verifier: JWKSVerifier, signer: Signer, server: KeyServer, clock: FixedClock
) -> None:
    verifier.verify(f"Bearer {signer.token()}")
    clock.advance(300)
    verifier.verify(f"Bearer {signer.token()}")
    assert server.fetches == 2
    # The service is down now: the keys fetched at +300 keep serving (one attempt per refetch interval) ...
    server.behaviour.status = 500
    clock.advance(300)
    verifier.verify(f"Bearer {signer.token()}")
    verifier.verify(f"Bearer {signer.token()}")
    assert server.fetches == 3
    clock.advance(299)
    verifier.verify(f"Bearer {signer.token()}")
    assert server.fetches == 4
    # ... until they are twice keys_max_age old: then refused with 503 until the service answers.
    clock.advance(1)
    outage = refused(verifier, f"Bearer {signer.token()}")
    assert (outage.status, outage.oauth_error, outage.challenge) == (503, "temporarily_unavailable", None)
    server.publish((signer.key, signer.kid))
    clock.advance(10)
    verifier.verify(f"Bearer {signer.token()}")


def test_a_service_that_cannot_be_reached_at_first_is_503_and_not_retried_at_once(
    signer: Signer, server: KeyServer, clock: FixedClock
) -> None:
    server.behaviour.status = 502
    verifier = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock)
    try:
        assert refused(verifier, f"Bearer {signer.token()}").status == 503
        assert refused(verifier, f"Bearer {signer.token()}").status == 503
        assert server.fetches == 1
        server.publish((signer.key, signer.kid))
        clock.advance(10)
        verifier.verify(f"Bearer {signer.token()}")
    finally:
        verifier.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_answer_is_refused_before_it_is_parsed(
    signer: Signer, server: KeyServer, clock: FixedClock, chunked: bool
) -> None:
    server.behaviour.body = b'{"keys":[' + b" " * 70_000 + b"]}"
    server.behaviour.chunked = chunked
    verifier = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock, max_response_bytes=64 * 1024)
    try:
        refusal = refused(verifier, f"Bearer {signer.token()}")
        assert refusal.status == 503
        assert "limit" in refusal.error.reason
    finally:
        verifier.close()


def test_a_redirect_is_not_followed(signer: Signer, server: KeyServer, clock: FixedClock) -> None:
    server.behaviour.status = 302
    server.behaviour.location = "https://evil.example.com/jwks.json"
    verifier = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock)
    try:
        assert "302" in refused(verifier, f"Bearer {signer.token()}").error.reason
        assert server.fetches == 1
    finally:
        verifier.close()


def test_a_slow_service_is_given_up_on_after_the_timeout(signer: Signer, server: KeyServer, clock: FixedClock) -> None:
    server.behaviour.delay = 3
    verifier = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock, timeout=0.5)
    try:
        started = time.monotonic()
        refusal = refused(verifier, f"Bearer {signer.token()}")
        assert refusal.status == 503
        assert time.monotonic() - started < 2.5
    finally:
        verifier.close()


# --- configuration --------------------------------------------------------------------------------------


def test_plain_http_is_refused_off_loopback_and_dangerous_when_allowed() -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        JWKSVerifier("http://auth.example.com")
    with pytest.raises(ConfigurationError, match="plain http"):
        JWKSVerifier(ISSUER, introspection_token="t", introspection_url="http://auth.example.com/introspect")
    with pytest.warns(ForcegateSecurityWarning, match="plain http"):
        JWKSVerifier("http://auth.example.com", dangerously_allow_http=True).close()
    JWKSVerifier("http://127.0.0.1:8000").close()  # loopback: a local service
    JWKSVerifier("http://[::1]:8000").close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": "ftp://auth.example.com"},
        {"issuer": "https://auth.example.com?x=1"},
        {"issuer": ISSUER, "introspection_url": "https://auth.example.com/oauth2/introspect"},
        {"issuer": ISSUER, "timeout": 0},
        {"issuer": ISSUER, "keys_max_age": 0},
        {"issuer": ISSUER, "leeway": 301},
        {"issuer": ISSUER, "max_response_bytes": 10},
    ],
)
def test_bad_configuration_is_refused_when_built(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        JWKSVerifier(**kwargs)


def test_the_issuer_is_the_public_url_without_a_trailing_slash() -> None:
    verifier = JWKSVerifier(ISSUER + "/")
    assert (verifier.issuer, verifier.audience) == (ISSUER, ISSUER)
    assert repr(verifier) == f"JWKSVerifier(issuer='{ISSUER}', jwks_url='{ISSUER}/.well-known/jwks.json')"


# --- sync from many threads, async from any loop, close ---------------------------------------------------


def test_many_worker_threads_share_one_fetch(signer: Signer, server: KeyServer, clock: FixedClock) -> None:
    server.behaviour.delay = 0.3  # every thread arrives while the first fetch is in flight
    verifier = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock)
    tokens = [signer.token() for _ in range(16)]
    try:
        with ThreadPoolExecutor(16) as pool:
            identities = list(pool.map(lambda token: verifier.verify(f"Bearer {token}"), tokens))
        assert {identity.org_id for identity in identities} == {ORG_ID}
        assert server.fetches == 1
    finally:
        verifier.close()


def test_the_async_api_works_from_any_loop(verifier: JWKSVerifier, signer: Signer, server: KeyServer) -> None:
    async def calls() -> list[str]:
        found = await asyncio.gather(*(verifier.averify(f"Bearer {signer.token()}") for _ in range(8)))
        with pytest.raises(Refusal) as caught:
            await verifier.averify(f"Bearer {signer.token()}", scopes=["admin"])
        assert caught.value.status == 403
        return [identity.org_id for identity in found]

    assert asyncio.run(calls()) == [ORG_ID] * 8
    assert asyncio.run(calls()) == [ORG_ID] * 8  # another loop, the same verifier
    assert server.fetches == 1
    # And the sync API from inside a running loop (a sync helper called by async code).
    assert asyncio.run(asyncio.to_thread(verifier.verify, f"Bearer {signer.token()}")).org_id == ORG_ID


def test_closed_verifiers_refuse_to_work(signer: Signer, server: KeyServer, clock: FixedClock) -> None:
    verifier = JWKSVerifier(ISSUER, jwks_url=server.url, clock=clock)
    verifier.verify(f"Bearer {signer.token()}")
    assert [thread.name for thread in threading.enumerate()].count("forcegate-jwks") == 1
    asyncio.run(verifier.aclose())
    assert [thread.name for thread in threading.enumerate()].count("forcegate-jwks") == 0
    with pytest.raises(RuntimeError, match="closed"):
        verifier.verify(f"Bearer {signer.token()}")  # even with the keys at hand
    verifier.close()  # twice is fine
