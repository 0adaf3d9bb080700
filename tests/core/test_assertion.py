"""AssertionVerifier: the identity an Apex assertion gives, issuer resolution, org state and keys, the check order."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from core.assertion_support import (
    AUD,
    CONSUMER_KEY,
    NOW,
    ORG,
    OTHER_ORG,
    RECORD,
    USER,
    USERNAME,
    FakeDirectory,
    MemoryReplay,
    run,
)
from forcegate.clock import FixedClock
from forcegate.core.assertion import AssertionVerifier
from forcegate.core.jws import JWSVerifier, loads_claims
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trust import OrgTrust
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    ConfigurationError,
    ForcegateError,
    InvalidAudience,
    InvalidClaim,
    InvalidScope,
    InvalidSignature,
    IssuerNotAllowed,
    KeyNotFound,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    OrgDisabled,
    SubjectNotAllowed,
    TokenExpired,
    TokenTooLarge,
    UnknownIssuer,
    UnsupportedAlgorithm,
)
from helpers import make_jws


def test_an_apex_assertion_gives_the_identity(verifier: AssertionVerifier, mint: Any, replay: MemoryReplay) -> None:
    params = {"recordType": "Invoice", "amounts": [1, 2.5]}
    token = mint(
        org_id=ORG,
        user_id=USER[:15],
        instance_url="https://acme.my.salesforce.com",
        record_id=RECORD,
        params=params,
    )
    result = run(verifier, token, replay)
    identity = result.identity
    assert identity.source == "jwt-bearer"
    assert identity.org_id == ORG
    assert identity.user_id == USER
    assert identity.username == USERNAME
    assert identity.instance_url == "https://acme.my.salesforce.com"
    assert identity.record_id == RECORD
    assert dict(identity.parameters) == params
    assert identity.scopes == frozenset({"api", "refresh"})  # nothing requested: all of the org's
    assert identity.issuer == ORG
    assert identity.expires_at == NOW + 300
    assert result.org.org_id == ORG
    assert result.jwt.subject == USERNAME
    expected_key = "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert replay.claimed == {expected_key: NOW + 300 + 60}  # until exp + leeway


def test_direct_bearer_source_and_bytes_token(verifier: AssertionVerifier, mint: Any) -> None:
    assert run(verifier, mint().encode(), source="jwt").identity.source == "jwt"


def test_a_15_character_or_case_folded_org_id_as_iss_names_the_org(verifier: AssertionVerifier, mint: Any) -> None:
    assert run(verifier, mint(iss=ORG[:15])).identity.issuer == ORG
    assert run(verifier, mint(iss=ORG.lower())).identity.org_id == ORG


def test_a_token_with_jti_is_claimed_by_it(
    verifier: AssertionVerifier, rsa_key: rsa.RSAPrivateKey, replay: MemoryReplay
) -> None:
    token = make_jws({"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60, "jti": "j-1"}, rsa_key)
    run(verifier, token, replay)
    assert replay.claimed == {f"jti:{ORG}:j-1": NOW + 120}


# --- issuer resolution ------------------------------------------------------------------------------


def test_consumer_key_issuer_with_org_id(verifier: AssertionVerifier, mint: Any) -> None:
    identity = run(verifier, mint(iss=CONSUMER_KEY, org_id=ORG[:15])).identity
    assert identity.org_id == ORG
    assert identity.issuer == CONSUMER_KEY


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({}, MissingClaim),
        ({"org_id": None}, MissingClaim),
        ({"org_id": USER}, InvalidClaim),
        ({"org_id": 12}, InvalidClaim),
        ({"org_id": OTHER_ORG}, UnknownIssuer),
    ],
)
def test_consumer_key_issuer_needs_a_registered_org_id(
    verifier: AssertionVerifier, mint: Any, claims: dict[str, Any], error: type[ForcegateError]
) -> None:
    with pytest.raises(error):
        run(verifier, mint(iss=CONSUMER_KEY, **claims))


def test_consumer_key_the_org_does_not_list_is_not_allowed(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory
) -> None:
    directory.orgs[ORG] = replace(org, issuers=frozenset({ORG}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    with pytest.raises(IssuerNotAllowed):
        run(verifier, mint(iss=CONSUMER_KEY, org_id=ORG))


def test_org_id_as_iss_when_the_org_only_accepts_a_consumer_key(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory
) -> None:
    directory.orgs[ORG] = replace(org, issuers=frozenset({CONSUMER_KEY}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    with pytest.raises(IssuerNotAllowed):
        run(verifier, mint())


# A Named Credential's External Credential: one static iss for every subscriber org (decision 0020).
PACKAGE_ISSUER = "acme-forcegate"


def test_an_issuer_the_org_lists_names_it_through_org_id(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory
) -> None:
    directory.orgs[ORG] = replace(org, issuers=frozenset({ORG, PACKAGE_ISSUER}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    identity = run(verifier, mint(iss=PACKAGE_ISSUER, org_id=ORG[:15], sub=USERNAME)).identity
    assert (identity.org_id, identity.issuer, identity.username) == (ORG, PACKAGE_ISSUER, USERNAME)
    # The org's own id stays an issuer beside it (the Apex mode's assertions).
    assert run(verifier, mint()).identity.issuer == ORG


@pytest.mark.parametrize(
    "claims",
    [{}, {"org_id": None}, {"org_id": OTHER_ORG}, {"org_id": "00Dnot-an-id"}, {"org_id": 12}, {"org_id": USER}],
)
def test_a_listed_issuer_needs_an_org_id_naming_an_org_that_lists_it(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory, claims: dict[str, Any]
) -> None:
    directory.orgs[ORG] = replace(org, issuers=frozenset({ORG, PACKAGE_ISSUER}))
    directory.orgs[OTHER_ORG] = replace(org, org_id=OTHER_ORG, issuers=frozenset({OTHER_ORG}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    with pytest.raises(UnknownIssuer):
        run(verifier, mint(iss=PACKAGE_ISSUER, **claims))


def test_a_listed_issuer_is_judged_by_the_named_orgs_keys(
    org: OrgTrust, clock: FixedClock, directory: FakeDirectory, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    directory.orgs[ORG] = replace(org, issuers=frozenset({ORG, PACKAGE_ISSUER}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    claims = {"iss": PACKAGE_ISSUER, "org_id": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60}
    with pytest.raises(InvalidSignature):
        run(verifier, make_jws(claims, other_rsa_key))


@pytest.mark.parametrize("iss", [OTHER_ORG, "3MVGunknown", "https://login.salesforce.com", USER])
def test_unknown_issuers(verifier: AssertionVerifier, mint: Any, iss: str) -> None:
    with pytest.raises(UnknownIssuer):
        run(verifier, mint(iss=iss, org_id=ORG))


@pytest.mark.parametrize("iss", [None, ""])
def test_iss_is_required(verifier: AssertionVerifier, mint: Any, iss: str | None) -> None:
    with pytest.raises(MissingClaim):
        run(verifier, mint(iss=iss))


def test_org_id_claim_must_name_the_issuing_org(verifier: AssertionVerifier, mint: Any) -> None:
    with pytest.raises(InvalidClaim, match="'org_id'"):
        run(verifier, mint(org_id=OTHER_ORG))
    assert run(verifier, mint(org_id=ORG[:15])).identity.org_id == ORG


def test_org_id_mismatch_is_judged_after_the_signature(
    verifier: AssertionVerifier, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    forged = make_jws({"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60, "org_id": OTHER_ORG}, other_rsa_key)
    with pytest.raises(InvalidSignature):
        run(verifier, forged)


# --- org state, keys, unparseable tokens -----------------------------------------------------------


def test_a_disabled_org_is_refused_before_anything_else_about_the_token(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory
) -> None:
    directory.orgs[ORG] = replace(org, enabled=False)
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    expired = mint(validity=-600)
    with pytest.raises(OrgDisabled):
        run(verifier, expired)
    with pytest.raises(OrgDisabled):
        run(verifier, mint(aud="https://elsewhere.example.com"))


def test_an_org_without_keys(org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory) -> None:
    directory.orgs[ORG] = replace(org, keys=())
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    with pytest.raises(KeyNotFound):
        run(verifier, mint())


def test_registry_changes_are_seen_on_the_next_call(
    org: OrgTrust, verifier: AssertionVerifier, mint: Any, directory: FakeDirectory, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = mint()
    run(verifier, token)
    directory.orgs[ORG] = replace(org, keys=(TrustedKey(other_rsa_key.public_key(), label="rotated"),))
    with pytest.raises(InvalidSignature):
        run(verifier, mint())


def test_algorithm_outside_the_allow_list_is_refused_before_any_lookup(
    verifier: AssertionVerifier, directory: FakeDirectory
) -> None:
    token = make_jws({"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60}, b"k" * 32, alg="HS256")
    with pytest.raises(UnsupportedAlgorithm):
        run(verifier, token)
    assert directory.lookups == []


@pytest.mark.parametrize(
    ("token", "error"),
    [("a.b", MalformedToken), ("x" * 20_000, TokenTooLarge), ("e30.e30.AAAA", MalformedToken)],
)
def test_unparseable_tokens(verifier: AssertionVerifier, token: str, error: type[ForcegateError]) -> None:
    with pytest.raises(error):
        run(verifier, token)


# --- order -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"iss": OTHER_ORG, "validity": -600}, UnknownIssuer),
        ({"aud": "https://x.example", "validity": -600}, InvalidAudience),
        ({"validity": -600, "sub": None}, TokenExpired),
        ({"validity": 3600, "instance_url": "ftp://x"}, LifetimeTooLong),
        ({"sub": None, "params": []}, MissingClaim),
        ({"org_id": OTHER_ORG, "scope": "admin"}, InvalidClaim),
    ],
)
def test_the_first_failing_check_is_reported(
    verifier: AssertionVerifier, mint: Any, kwargs: dict[str, Any], error: type[ForcegateError]
) -> None:
    with pytest.raises(error):
        run(verifier, mint(**kwargs))


def test_subject_list_comes_before_the_claim_profile(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory
) -> None:
    directory.orgs[ORG] = replace(org, subjects=frozenset({"only@acme.example"}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    with pytest.raises(SubjectNotAllowed):
        run(verifier, mint(params="not an object"))


def test_scope_comes_before_replay(verifier: AssertionVerifier, mint: Any, replay: MemoryReplay) -> None:
    token = mint()
    run(verifier, token, replay)
    with pytest.raises(InvalidScope):
        run(verifier, token, replay, scope="admin")


def test_configuration_is_checked_at_construction(directory: FakeDirectory) -> None:
    with pytest.raises(ConfigurationError):
        AssertionVerifier(directory=directory, audiences=[])
    with pytest.raises(ConfigurationError):
        AssertionVerifier(directory=directory, audiences=[AUD], max_assertion_lifetime=0)
    with pytest.raises(ConfigurationError):
        AssertionVerifier(directory=directory, audiences=[AUD], algorithms=["none"])


def test_result_repr_hides_the_token(verifier: AssertionVerifier, mint: Any) -> None:
    token = mint()
    assert token.split(".")[2] not in repr(run(verifier, token))


# --- JWTVerifier.verify_parsed, the seam this module uses --------------------------------------------


def test_verify_parsed_refuses_an_algorithm_its_policy_does_not_allow(rsa_key: rsa.RSAPrivateKey) -> None:
    wide = JWSVerifier(algorithms=("RS256", "HS256"))
    token = make_jws({"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60}, b"k" * 32, alg="HS256")
    jws = wide.parse(token)
    narrow = JWTVerifier(
        policy=JWTPolicy(audiences=frozenset({AUD})), keys=[TrustedKey(b"k" * 32)], clock=FixedClock(NOW)
    )
    with pytest.raises(UnsupportedAlgorithm):
        narrow.verify_parsed(token, jws, loads_claims(jws.payload))


def test_verify_parsed_uses_the_given_keys_else_the_resolver(rsa_key: rsa.RSAPrivateKey) -> None:
    token = make_jws({"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60}, rsa_key)
    jws = JWSVerifier().parse(token)
    claims = loads_claims(jws.payload)
    resolver = JWTVerifier(
        policy=JWTPolicy(audiences=frozenset({AUD})),
        keys=lambda iss: [TrustedKey(rsa_key.public_key())],
        clock=FixedClock(NOW),
    )
    assert resolver.verify_parsed(token, jws, claims).token == token
    with pytest.raises(KeyNotFound):
        resolver.verify_parsed(token, jws, claims, keys=())
    nobody = JWTVerifier(policy=JWTPolicy(audiences=frozenset({AUD})), keys=(), clock=FixedClock(NOW))
    with pytest.raises(UnknownIssuer):
        nobody.verify_parsed(token, jws, claims)
    assert nobody.verify_parsed(token, jws, claims, keys=[TrustedKey(rsa_key.public_key())]).issuer == ORG
