from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.core import ids
from forcegate.core.assertion import MAX_SUBJECT_LENGTH, AssertionVerifier, VerifiedAssertion
from forcegate.core.claim_profile import MAX_PARAMS_BYTES
from forcegate.core.jws import JWSVerifier, loads_claims
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trust import OrgTrust
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    AssertionReplayed,
    ClaimsTooLarge,
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
    TokenNotYetValid,
    TokenTooLarge,
    UnknownIssuer,
    UnsupportedAlgorithm,
)
from forcegate.salesforce import AuthJWS, AuthJWT, CertificateAndKeyManagement
from helpers import make_jws, self_signed

NOW = 1_750_000_000  # 2025-06-15, inside the certificate's validity
ORG = ids.to18("00D5g000004ABCD")
OTHER_ORG = ids.to18("00D5g000009WXYZ")
USER = ids.to18("0055g00000AbCdE")
RECORD = ids.to18("0015g00000XyZab")
CONSUMER_KEY = "3MVG9" + "A" * 80
USERNAME = "integration.user@acme.example"
AUD = "https://svc.example.com/oauth2/token"
CERT = "forcegate_cert"


class FakeDirectory:
    """The registry as the verifier sees it: a dict of orgs and a set of consumer keys."""

    def __init__(self, orgs: Iterable[OrgTrust], consumer_keys: Iterable[str] = ()) -> None:
        self.orgs = {org.org_id: org for org in orgs}
        self.consumer_keys = set(consumer_keys)
        self.lookups: list[str] = []

    async def org(self, org_id: str) -> OrgTrust | None:
        self.lookups.append(org_id)
        return self.orgs.get(org_id)

    async def is_consumer_key(self, issuer: str) -> bool:
        self.lookups.append(issuer)
        return issuer in self.consumer_keys


class MemoryReplay:
    def __init__(self) -> None:
        self.claimed: dict[str, float] = {}

    async def claim(self, key: str, expires_at: float) -> bool:
        if key in self.claimed:
            return False
        self.claimed[key] = expires_at
        return True


@pytest.fixture(scope="module")
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(rsa_key, cn=CERT, start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


@pytest.fixture
def org_certs(rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> CertificateAndKeyManagement:
    certs = CertificateAndKeyManagement()
    certs.add(CERT, private_key=rsa_key, certificate=certificate)
    return certs


@pytest.fixture
def org(certificate: x509.Certificate) -> OrgTrust:
    return OrgTrust(
        org_id=ORG,
        enabled=True,
        issuers=frozenset({ORG, CONSUMER_KEY}),
        subjects=None,
        scopes=frozenset({"api", "refresh"}),
        keys=(TrustedKey.from_certificate(certificate, label="org cert"),),
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def directory(org: OrgTrust) -> FakeDirectory:
    return FakeDirectory([org], [CONSUMER_KEY])


@pytest.fixture
def verifier(directory: FakeDirectory, clock: FixedClock) -> AssertionVerifier:
    return AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)


@pytest.fixture
def replay() -> MemoryReplay:
    return MemoryReplay()


@pytest.fixture
def mint(org_certs: CertificateAndKeyManagement, clock: FixedClock) -> Any:
    """Sign an assertion exactly as Apex's Auth.JWT + Auth.JWS would."""

    def mint(
        *,
        iss: str | None = ORG,
        sub: str | None = USERNAME,
        aud: str | None = AUD,
        validity: int = 300,
        skew: int = 0,
        **claims: object,
    ) -> str:
        jwt = AuthJWT(iss=iss, sub=sub, aud=aud, validity_length=validity, nbf_clock_skew=skew)
        jwt.set_additional_claims(claims)
        return AuthJWS(jwt, CERT, certificates=org_certs, clock=clock).compact_serialization()

    return mint


def run(
    verifier: AssertionVerifier,
    token: str | bytes,
    replay: MemoryReplay | None = None,
    *,
    scope: str | None = None,
    source: Any = "jwt-bearer",
) -> VerifiedAssertion:
    return asyncio.run(verifier.verify(token, replay=replay or MemoryReplay(), requested_scope=scope, source=source))


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


# --- org state, keys, claims --------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"aud": "https://svc.example.com/oauth2/token/"}, InvalidAudience),
        ({"aud": None}, MissingClaim),
        ({"validity": -61}, TokenExpired),
        ({"skew": -120}, TokenNotYetValid),
        ({"validity": 361}, LifetimeTooLong),
        ({"sub": None}, MissingClaim),
        ({"sub": ""}, MissingClaim),
        ({"sub": "x" * (MAX_SUBJECT_LENGTH + 1)}, InvalidClaim),
        ({"instance_url": "http://acme.example.com"}, InvalidClaim),
        ({"user_id": ORG}, InvalidClaim),
        ({"params": {"k": "x" * MAX_PARAMS_BYTES}}, ClaimsTooLarge),
        ({"scope": "api  refresh"}, InvalidClaim),
    ],
)
def test_claim_checks(
    verifier: AssertionVerifier, mint: Any, kwargs: dict[str, Any], error: type[ForcegateError]
) -> None:
    with pytest.raises(error):
        run(verifier, mint(**kwargs))


def test_sub_must_be_a_string(verifier: AssertionVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidClaim, match="'sub'"):
        run(verifier, make_jws({"iss": ORG, "sub": 5, "aud": AUD, "exp": NOW + 60}, rsa_key))


def test_the_org_lifetime_cap_overrides_the_default(
    org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory
) -> None:
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    directory.orgs[ORG] = replace(org, max_assertion_lifetime=900)
    assert run(verifier, mint(validity=900)).identity.expires_at == NOW + 900
    directory.orgs[ORG] = replace(org, max_assertion_lifetime=60)
    with pytest.raises(LifetimeTooLong):
        run(verifier, mint(validity=300))
    directory.orgs[ORG] = org
    assert run(verifier, mint(validity=300)).org is org


def test_subject_lists(org: OrgTrust, clock: FixedClock, mint: Any, directory: FakeDirectory) -> None:
    directory.orgs[ORG] = replace(org, subjects=frozenset({USERNAME}))
    verifier = AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)
    assert run(verifier, mint()).identity.username == USERNAME
    with pytest.raises(SubjectNotAllowed):
        run(verifier, mint(sub="someone.else@acme.example"))


def test_a_user_id_as_sub_is_the_user_and_no_username(verifier: AssertionVerifier, mint: Any) -> None:
    identity = run(verifier, mint(sub=USER[:15])).identity
    assert identity.user_id == USER
    assert identity.username is None
    assert run(verifier, mint(sub=USER, user_id=USER[:15])).identity.user_id == USER
    with pytest.raises(InvalidClaim, match="'user_id'"):
        run(verifier, mint(sub=USER, user_id=ids.to18("0055g00000ZzZzZ")))


# --- scope --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "claim", "granted"),
    [
        (None, None, {"api", "refresh"}),
        (None, "api", {"api"}),
        ("refresh", None, {"refresh"}),
        ("refresh", "api", {"refresh"}),  # the request parameter wins over the claim
        ("", "api", {"api"}),  # an empty parameter is an omitted one (RFC 6749 §3.1)
        ("api refresh", None, {"api", "refresh"}),
    ],
)
def test_scope_resolution(
    verifier: AssertionVerifier, mint: Any, form: str | None, claim: str | None, granted: set[str]
) -> None:
    token = mint(scope=claim) if claim else mint()
    assert run(verifier, token, scope=form).identity.scopes == granted


@pytest.mark.parametrize(("form", "claim"), [("admin", None), (None, "api admin"), ("api  x", None), ('a"b', None)])
def test_invalid_scope(verifier: AssertionVerifier, mint: Any, form: str | None, claim: str | None) -> None:
    token = mint(scope=claim) if claim else mint()
    with pytest.raises(InvalidScope):
        run(verifier, token, scope=form)


# --- single use -----------------------------------------------------------------------------------------


def test_second_use_is_a_replay(verifier: AssertionVerifier, mint: Any, replay: MemoryReplay) -> None:
    token = mint()
    run(verifier, token, replay)
    with pytest.raises(AssertionReplayed):
        run(verifier, token, replay)
    run(verifier, mint(validity=299), replay)  # a fresh assertion is fine


def test_a_failing_token_never_burns_its_key(
    verifier: AssertionVerifier, mint: Any, replay: MemoryReplay, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    failing = [
        mint(aud="https://elsewhere.example.com"),
        mint(validity=-120),
        mint(org_id=OTHER_ORG),
        mint(scope="admin"),
        make_jws({"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 60}, other_rsa_key),
    ]
    for token in failing:
        with pytest.raises(ForcegateError):
            run(verifier, token, replay)
    assert replay.claimed == {}
    token = mint(scope="api")
    with pytest.raises(InvalidScope):
        run(verifier, token, replay, scope="admin")
    assert run(verifier, token, replay).identity.scopes == {"api"}  # the same token, now asking properly


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
