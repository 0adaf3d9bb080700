from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from forcegate.clock import FixedClock
from forcegate.core import ids
from forcegate.core.access_token import MAX_ACCESS_TOKEN_BYTES, AccessTokenIssuer, AccessTokenVerifier
from forcegate.core.assertion import MAX_SUBJECT_LENGTH, AssertionVerifier
from forcegate.core.claim_profile import MAX_INSTANCE_URL_LENGTH, MAX_PARAMS_BYTES
from forcegate.core.grant import (
    JWT_BEARER_GRANT_TYPE,
    MAX_BODY_BYTES,
    MAX_FIELDS,
    TokenRequest,
    exchange,
    parse_token_request,
    prepare_grant,
)
from forcegate.core.trust import OrgTrust
from forcegate.core.trusted_key import TrustedKey
from forcegate.devtools import AuthJWS, AuthJWT, CertificateAndKeyManagement
from forcegate.errors import AssertionReplayed, RequestError, UnsupportedGrantType
from helpers import self_signed

NOW = 1_750_000_000
ORG = ids.to18("00D5g000004ABCD")
USER = ids.to18("0055g00000AbCdE")
SERVICE = "https://svc.example.com"
TOKEN_URL = SERVICE + "/oauth2/token"
ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIwMEQifQ.c2ln"


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


# --- parsing -------------------------------------------------------------------------------------------


def test_parses_what_apex_sends() -> None:
    # Auth.JWTBearerTokenExchange: exactly these two fields, the grant type percent-encoded.
    body = form(grant_type=JWT_BEARER_GRANT_TYPE, assertion=ASSERTION)
    assert b"%3A" in body
    request = parse_token_request(body)
    assert request == TokenRequest(ASSERTION, None)


@pytest.mark.parametrize(
    "grant_type",
    [
        JWT_BEARER_GRANT_TYPE,
        "urn%3aietf%3aparams%3aoauth%3agrant-type%3ajwt-bearer",
        "urn:ietf%3Aparams:oauth:grant-type:jwt-bearer",
    ],
)
def test_grant_type_spellings(grant_type: str) -> None:
    body = f"grant_type={grant_type}&assertion={ASSERTION}".encode()
    assert parse_token_request(body).assertion == ASSERTION


def test_scope_and_ignored_client_credentials() -> None:
    body = form(
        grant_type=JWT_BEARER_GRANT_TYPE,
        assertion=ASSERTION,
        scope="api refresh",
        client_id="3MVG9xyz",
        client_assertion="whatever",
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    )
    assert b"api+refresh" in body
    assert parse_token_request(body) == TokenRequest(ASSERTION, "api refresh")


def test_an_empty_scope_is_an_omitted_one() -> None:
    assert parse_token_request(form(grant_type=JWT_BEARER_GRANT_TYPE, assertion=ASSERTION, scope="")).scope is None


def test_repr_hides_the_assertion() -> None:
    assert ASSERTION not in repr(parse_token_request(form(grant_type=JWT_BEARER_GRANT_TYPE, assertion=ASSERTION)))


GOOD = f"grant_type={JWT_BEARER_GRANT_TYPE}&assertion={ASSERTION}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "'grant_type' is missing"),
        (f"assertion={ASSERTION}".encode(), "'grant_type' is missing"),
        (f"grant_type=&assertion={ASSERTION}".encode(), "'grant_type' is missing"),
        (f"grant_type={JWT_BEARER_GRANT_TYPE}".encode(), "'assertion' is missing"),
        (f"grant_type={JWT_BEARER_GRANT_TYPE}&assertion=".encode(), "'assertion' is missing"),
        (f"{GOOD}&assertion={ASSERTION}".encode(), "repeated"),
        (f"{GOOD}&assertion=".encode(), "repeated"),
        (f"{GOOD}&grant_type={JWT_BEARER_GRANT_TYPE}".encode(), "repeated"),
        (f"{GOOD}&x=1&x=2".encode(), "repeated"),
        (f"{GOOD}&scope=a&scop%65=b".encode(), "repeated"),  # the same name once decoded
        (f"{GOOD}&flag".encode(), "without '='"),
        (f"{GOOD}&&x=1".encode(), "without '='"),
        (f"{GOOD}&".encode(), "without '='"),
        (GOOD.encode() + b"&x=\xff", "not UTF-8"),
        (f"{GOOD}&scope=%FF".encode(), "not UTF-8"),
        (f"{GOOD}&scope=%C3".encode(), "not UTF-8"),
        (GOOD.encode() + b"&p=" + b"x" * MAX_BODY_BYTES, "exceeds"),
        ((GOOD + "&x=1" * MAX_FIELDS).encode(), f"more than {MAX_FIELDS}"),
    ],
)
def test_malformed_requests(body: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason) as caught:
        parse_token_request(body)
    assert type(caught.value) is RequestError
    assert caught.value.oauth_error == "invalid_request"


@pytest.mark.parametrize(
    "grant_type", ["client_credentials", "authorization_code", "urn:ietf:params:oauth:grant-type:saml2-bearer"]
)
def test_other_grant_types_are_unsupported(grant_type: str) -> None:
    with pytest.raises(UnsupportedGrantType) as caught:
        parse_token_request(form(grant_type=grant_type, assertion=ASSERTION))
    assert caught.value.oauth_error == "unsupported_grant_type"


def test_the_grant_type_is_checked_before_the_assertion() -> None:
    with pytest.raises(UnsupportedGrantType):
        parse_token_request(b"grant_type=password")


# --- exchange ------------------------------------------------------------------------------------------


class Directory:
    def __init__(self, org: OrgTrust) -> None:
        self.the_org = org

    async def org(self, org_id: str) -> OrgTrust | None:
        return self.the_org if org_id == self.the_org.org_id else None

    async def is_consumer_key(self, issuer: str) -> bool:
        return False


class Replay:
    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def claim(self, key: str, expires_at: float) -> bool:
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture(scope="module")
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(rsa_key, cn="forcegate_cert", start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


@pytest.fixture
def org(certificate: x509.Certificate) -> OrgTrust:
    return OrgTrust(
        org_id=ORG,
        enabled=True,
        issuers=frozenset({ORG}),
        subjects=None,
        scopes=frozenset({"api"}),
        keys=(TrustedKey.from_certificate(certificate),),
    )


@pytest.fixture
def signing() -> tuple[ec.EllipticCurvePrivateKey, str]:
    return ec.generate_private_key(ec.SECP256R1()), "kid-1"


@pytest.fixture
def setup(
    org: OrgTrust, clock: FixedClock, signing: tuple[ec.EllipticCurvePrivateKey, str]
) -> tuple[AssertionVerifier, AccessTokenIssuer, AccessTokenVerifier, Directory]:
    directory = Directory(org)
    key, kid = signing
    verifier = AssertionVerifier(directory=directory, audiences=[TOKEN_URL], clock=clock)
    issuer = AccessTokenIssuer(private_key=key, kid=kid, issuer=SERVICE, audience=SERVICE, lifetime=600, clock=clock)
    tokens = AccessTokenVerifier(keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, clock=clock)
    return verifier, issuer, tokens, directory


@pytest.fixture
def apex(rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate, clock: FixedClock) -> Any:
    certs = CertificateAndKeyManagement()
    certs.add("forcegate_cert", private_key=rsa_key, certificate=certificate)

    def sign(sub: str = "u@acme.example", **claims: object) -> str:
        jwt = AuthJWT(iss=ORG, sub=sub, aud=TOKEN_URL, additional_claims=claims)
        return AuthJWS(jwt, "forcegate_cert", certificates=certs, clock=clock).compact_serialization()

    return sign


def test_exchange_issues_an_access_token_for_the_identity(setup: Any, apex: Any) -> None:
    verifier, issuer, tokens, _ = setup
    body = form(grant_type=JWT_BEARER_GRANT_TYPE, assertion=apex(user_id=USER, params={"a": 1}))
    grant = asyncio.run(exchange(parse_token_request(body), verifier=verifier, issuer=issuer, replay=Replay()))
    assert set(grant.response) == {"access_token", "token_type", "expires_in", "scope"}
    assert grant.response["token_type"] == "Bearer"
    assert grant.response["expires_in"] == 600
    assert grant.response["scope"] == "api"
    assert grant.identity.user_id == USER
    assert grant.record.client_id == ORG
    assert grant.record.expires_at == NOW + 600
    assert grant.assertion.jwt.subject == "u@acme.example"
    verified = tokens.verify(grant.response["access_token"])
    assert verified.jti == grant.record.jti
    assert verified.identity.parameters == {"a": 1}
    assert verified.identity.source == "jwt-bearer"
    assert grant.response["access_token"] not in repr(grant)


def test_the_org_token_lifetime_and_an_empty_scope(setup: Any, apex: Any, org: OrgTrust) -> None:
    verifier, issuer, _, directory = setup
    directory.the_org = replace(org, token_lifetime=120, scopes=frozenset())
    request = TokenRequest(apex())
    grant = asyncio.run(exchange(request, verifier=verifier, issuer=issuer, replay=Replay()))
    assert grant.response["expires_in"] == 120
    assert "scope" not in grant.response  # nothing granted: RFC 6749 §3.3 has no empty scope value


def test_an_assertion_is_exchanged_once(setup: Any, apex: Any) -> None:
    verifier, issuer, _, _ = setup
    replay = Replay()
    request = TokenRequest(apex())
    asyncio.run(exchange(request, verifier=verifier, issuer=issuer, replay=replay))
    with pytest.raises(AssertionReplayed):
        asyncio.run(exchange(request, verifier=verifier, issuer=issuer, replay=replay))


def test_prepare_grant_checks_and_signs_but_leaves_the_claim_to_the_caller(
    setup: Any, apex: Any, clock: FixedClock
) -> None:
    verifier, issuer, tokens, _ = setup
    replay = Replay()
    request = TokenRequest(apex(jti_hint="unused"))
    first = asyncio.run(prepare_grant(request, verifier=verifier, issuer=issuer))
    second = asyncio.run(prepare_grant(request, verifier=verifier, issuer=issuer))
    assert replay.keys == set()  # nothing claimed: the same assertion prepares twice
    assert first.assertion.replay_key == second.assertion.replay_key
    assert first.assertion.replay_key.startswith("sha256:")  # no jti: a digest of the assertion
    # Held until the assertion could no longer pass the expiry check: exp + the default 60 s leeway.
    assert first.assertion.replay_until == first.assertion.jwt.expires_at + 60
    assert tokens.verify(first.response["access_token"]).jti == first.record.jti
    assert first.record.jti != second.record.jti
    # exchange() is prepare + claim: the first exchange wins, the key is what prepare named.
    asyncio.run(exchange(request, verifier=verifier, issuer=issuer, replay=replay))
    assert replay.keys == {first.assertion.replay_key}


def test_the_largest_acceptable_assertion_still_gets_an_access_token(setup: Any, apex: Any) -> None:
    # The profile's bounds exist so that issuing cannot fail once the single use is claimed.
    verifier, issuer, _, _ = setup
    params = {"k": "\u00e9" * ((MAX_PARAMS_BYTES - len('{"k":""}')) // 2)}
    url = "https://acme.my.salesforce.com/" + "p" * (MAX_INSTANCE_URL_LENGTH - 31)
    assertion = apex(sub="s" * MAX_SUBJECT_LENGTH, user_id=USER, record_id=USER, instance_url=url, params=params)
    grant = asyncio.run(exchange(TokenRequest(assertion), verifier=verifier, issuer=issuer, replay=Replay()))
    assert len(grant.response["access_token"]) <= MAX_ACCESS_TOKEN_BYTES
