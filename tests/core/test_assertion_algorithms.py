"""Each org's assertions are held to the org's own algorithms; certificates vouch only inside their validity."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from core.assertion_support import AUD, NOW, ORG, USERNAME, FakeDirectory, run
from forcegate.clock import FixedClock
from forcegate.core.assertion import AssertionVerifier
from forcegate.core.trust import OrgTrust
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import ConfigurationError, KeyNotFound, UnexpectedTokenType, UnsupportedAlgorithm
from helpers import make_jws, self_signed

CLAIMS: dict[str, Any] = {"iss": ORG, "sub": USERNAME, "aud": AUD, "exp": NOW + 120, "nbf": NOW - 5}
LEEWAY = 60


def _org(key: Any, *, algorithms: set[str], start: dt.datetime | None = None) -> OrgTrust:
    certificate = self_signed(key, start=start or dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    return OrgTrust(
        org_id=ORG,
        enabled=True,
        issuers=frozenset({ORG}),
        subjects=None,
        scopes=frozenset(),
        keys=(TrustedKey.from_certificate(certificate),),
        algorithms=frozenset(algorithms),
    )


def _verifier(org: OrgTrust, directory: FakeDirectory | None = None) -> AssertionVerifier:
    return AssertionVerifier(
        directory=directory or FakeDirectory([org]), audiences=[AUD], leeway=LEEWAY, clock=FixedClock(NOW)
    )


@pytest.mark.parametrize(
    ("key_fixture", "alg"),
    [("rsa_key", "RS256"), ("rsa_key", "RS512"), ("rsa_key", "PS256"), ("ec_key", "ES256"), ("ed_key", "EdDSA")],
)
def test_an_org_may_be_pinned_to_another_algorithm(request: pytest.FixtureRequest, key_fixture: str, alg: str) -> None:
    key = request.getfixturevalue(key_fixture)
    org = _org(key, algorithms={alg})
    verified = run(_verifier(org), make_jws(CLAIMS, key, alg=alg))
    assert verified.jwt.algorithm == alg
    assert verified.identity.org_id == ORG


def test_rs256_is_refused_for_an_org_that_allows_only_rs512(rsa_key: rsa.RSAPrivateKey) -> None:
    org = _org(rsa_key, algorithms={"RS512"})
    with pytest.raises(UnsupportedAlgorithm, match="not allowed for org"):
        run(_verifier(org), make_jws(CLAIMS, rsa_key, alg="RS256"))


def test_the_default_org_takes_rs256_only(rsa_key: rsa.RSAPrivateKey) -> None:
    org = _org(rsa_key, algorithms={"RS256"})
    default = OrgTrust(org_id=ORG, enabled=True, issuers=frozenset(), subjects=None, scopes=frozenset(), keys=())
    assert default.algorithms == {"RS256"}
    with pytest.raises(UnsupportedAlgorithm):
        run(_verifier(org), make_jws(CLAIMS, rsa_key, alg="PS256"))


def test_the_orgs_algorithm_is_checked_before_its_keys(ec_key: ec.EllipticCurvePrivateKey) -> None:
    """An ES256 assertion for an RS256 org is refused as an algorithm, not tried against keys."""
    org = _org(ec_key, algorithms={"RS256"})
    with pytest.raises(UnsupportedAlgorithm):
        run(_verifier(org), make_jws(CLAIMS, ec_key, alg="ES256"))


def test_hmac_and_none_never_reach_an_org(rsa_key: rsa.RSAPrivateKey) -> None:
    org = _org(rsa_key, algorithms={"RS256"})
    directory = FakeDirectory([org])
    with pytest.raises(UnsupportedAlgorithm):
        run(_verifier(org, directory), make_jws(CLAIMS, b"k" * 32, alg="HS256"))
    assert directory.lookups == []  # refused while parsing: no registry lookup for a symmetric algorithm


def test_assertion_algorithms_are_asymmetric(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigurationError, match="asymmetric"):
        AssertionVerifier(directory=FakeDirectory([]), audiences=[AUD], algorithms=["RS256", "HS256"])


def test_a_certificate_verifies_nothing_before_its_not_before(ed_key: ed25519.Ed25519PrivateKey) -> None:
    start = dt.datetime.fromtimestamp(NOW, dt.UTC) + dt.timedelta(seconds=LEEWAY + 30)
    org = _org(ed_key, algorithms={"EdDSA"}, start=start)
    with pytest.raises(KeyNotFound, match="not valid yet"):
        run(_verifier(org), make_jws(CLAIMS, ed_key, alg="EdDSA"))


def test_a_certificate_starting_within_the_leeway_verifies(ed_key: ed25519.Ed25519PrivateKey) -> None:
    start = dt.datetime.fromtimestamp(NOW, dt.UTC) + dt.timedelta(seconds=LEEWAY - 30)
    org = _org(ed_key, algorithms={"EdDSA"}, start=start)
    assert run(_verifier(org), make_jws(CLAIMS, ed_key, alg="EdDSA")).identity.org_id == ORG


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_an_access_token_type_is_never_an_assertion(rsa_key: rsa.RSAPrivateKey, typ: str) -> None:
    """RFC 8725 §3.11: a JWT of another type must not be accepted where an assertion is expected."""
    org = _org(rsa_key, algorithms={"RS256"})
    token = make_jws(CLAIMS, rsa_key, alg="RS256", header={"alg": "RS256", "typ": typ})
    with pytest.raises(UnexpectedTokenType):
        run(_verifier(org), token)
    assert run(_verifier(org), make_jws(CLAIMS, rsa_key, alg="RS256", header={"alg": "RS256", "typ": "JWT"}))
