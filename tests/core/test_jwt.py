from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forcegate.clock import FixedClock
from forcegate.core.jwt import JWTPolicy, JWTVerifier, verify_jwt
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    ConfigurationError,
    InvalidAudience,
    InvalidClaim,
    InvalidSignature,
    KeyNotFound,
    LifetimeTooLong,
    MalformedToken,
    MissingClaim,
    TokenError,
    TokenExpired,
    TokenIssuedInFuture,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownIssuer,
    UnsupportedAlgorithm,
)
from helpers import make_jws

NOW = 1_790_000_000
ORG = "00D5g000004ABCDEA4"
AUD = "https://forcegate.example.com/oauth2/token"


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ORG, "sub": "user@example.com", "aud": AUD, "exp": NOW + 300, "nbf": NOW}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def verifier(rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> JWTVerifier:
    policy = JWTPolicy(audiences=frozenset({AUD}), issuers=frozenset({ORG}))
    return JWTVerifier(policy=policy, keys=[TrustedKey(rsa_key.public_key(), label="org-cert")], clock=clock)


def test_accepts_an_apex_shaped_token(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = make_jws(claims(params={"recordId": "001"}), rsa_key)
    result = verifier.verify(token)
    assert result.claims["params"] == {"recordId": "001"}
    assert result.issuer == ORG
    assert result.subject == "user@example.com"
    assert result.algorithm == "RS256"
    assert result.key.label == "org-cert"
    assert result.expires_at == NOW + 300
    assert dict(result.header) == {"alg": "RS256"}


def test_bytes_token_is_accepted_too(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert verifier.verify(make_jws(claims(), rsa_key).encode()).issuer == ORG


def test_claims_are_read_only(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    result = verifier.verify(make_jws(claims(), rsa_key))
    with pytest.raises(TypeError):
        result.claims["sub"] = "someone else"  # type: ignore[index]  # proving the mapping is read-only


def test_repr_does_not_contain_the_token(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = make_jws(claims(), rsa_key)
    assert token.split(".")[2] not in repr(verifier.verify(token))


def test_replay_key_uses_jti_when_present(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert verifier.verify(make_jws(claims(jti="abc"), rsa_key)).replay_key() == f"jti:{ORG}:abc"


def test_replay_key_digests_the_token_without_jti(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = make_jws(claims(), rsa_key)
    expected = "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert verifier.verify(token).replay_key() == expected


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp": NOW - 61}, TokenExpired),
        ({"exp": NOW - 60}, TokenExpired),  # now >= exp + leeway
        ({"nbf": NOW + 61}, TokenNotYetValid),
        ({"iat": NOW + 61}, TokenIssuedInFuture),
        ({"exp": NOW + 361}, LifetimeTooLong),  # beyond max_lifetime + leeway from now
        ({"iat": NOW - 100, "exp": NOW + 250}, LifetimeTooLong),  # exp - iat = 350 > 300
        ({"exp": ...}, MissingClaim),
        ({"exp": "1790000300"}, InvalidClaim),
        ({"exp": True}, InvalidClaim),
        ({"exp": None}, InvalidClaim),
        ({"nbf": [1]}, InvalidClaim),
        ({"iss": ...}, MissingClaim),
        ({"iss": ""}, MissingClaim),
        ({"iss": 7}, MissingClaim),
        ({"iss": "00D000000000000EAA"}, UnknownIssuer),
        ({"sub": ...}, MissingClaim),
        ({"aud": ...}, MissingClaim),
        ({"aud": "https://other.example.com/oauth2/token"}, InvalidAudience),
        ({"aud": AUD + "/"}, InvalidAudience),  # exact match, no normalisation
        ({"aud": ["https://a.example.com", "https://b.example.com"]}, InvalidAudience),
        ({"aud": [AUD, 5]}, InvalidClaim),
        ({"aud": []}, InvalidClaim),
        ({"aud": {"x": AUD}}, InvalidClaim),
    ],
)
def test_each_claim_rule_rejects(
    verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey, overrides: dict[str, Any], error: type[TokenError]
) -> None:
    with pytest.raises(error):
        verifier.verify(make_jws(claims(**overrides), rsa_key))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": NOW - 59},  # within leeway
        {"nbf": NOW + 60},
        {"iat": NOW + 60},
        {"exp": NOW + 360},  # max_lifetime + leeway
        {"iat": NOW - 10, "exp": NOW + 290},
        {"aud": ["https://other.example.com", AUD]},  # an array containing an accepted audience
        {"nbf": ...},
        {"exp": float(NOW + 100)},
    ],
)
def test_boundaries_that_are_accepted(
    verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey, overrides: dict[str, Any]
) -> None:
    assert verifier.verify(make_jws(claims(**overrides), rsa_key)).issuer == ORG


def test_the_clock_is_injected(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> None:
    token = make_jws(claims(), rsa_key)
    verifier.verify(token)
    clock.advance(300 + 60)
    with pytest.raises(TokenExpired):
        verifier.verify(token)


def test_signature_from_another_key_is_rejected(verifier: JWTVerifier, other_rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidSignature):
        verifier.verify(make_jws(claims(), other_rsa_key))


def test_signature_is_checked_before_claims(verifier: JWTVerifier, other_rsa_key: rsa.RSAPrivateKey) -> None:
    # An expired token signed by a stranger must be reported as a bad signature, never as expired:
    # claim checks on unauthenticated data would leak what the verifier accepts.
    with pytest.raises(InvalidSignature):
        verifier.verify(make_jws(claims(exp=NOW - 1000), other_rsa_key))


def test_tampered_claims_are_rejected(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    head, _, sig = make_jws(claims(), rsa_key).split(".")
    forged = make_jws(claims(sub="admin@example.com"), rsa_key).split(".")[1]
    with pytest.raises(InvalidSignature):
        verifier.verify(f"{head}.{forged}.{sig}")


def test_algorithm_outside_the_allow_list_is_rejected(
    verifier: JWTVerifier, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        verifier.verify(make_jws(claims(), ec_key, alg="ES256"))


def test_hs256_with_the_public_key_as_secret_is_rejected(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    # The classic algorithm-confusion attack: sign HS256 with the RSA public key's PEM as secret.
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = rsa_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(UnsupportedAlgorithm):
        verifier.verify(make_jws(claims(), pem, alg="HS256"))


def test_hs256_allowed_but_rsa_key_cannot_serve_as_hmac_secret(rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    policy = JWTPolicy(audiences=frozenset({AUD}), algorithms=frozenset({"RS256", "HS256"}))
    verifier = JWTVerifier(policy=policy, keys=[TrustedKey(rsa_key.public_key())], clock=clock)
    pem = rsa_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyNotFound):
        verifier.verify(make_jws(claims(), pem, alg="HS256"))


def test_es256_when_configured(ec_key: ec.EllipticCurvePrivateKey, clock: FixedClock) -> None:
    policy = JWTPolicy(audiences=frozenset({AUD}), algorithms=frozenset({"ES256"}))
    verifier = JWTVerifier(policy=policy, keys=[TrustedKey(ec_key.public_key())], clock=clock)
    assert verifier.verify(make_jws(claims(), ec_key, alg="ES256")).algorithm == "ES256"


def test_resolver_picks_keys_per_issuer(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    other_org = "00D5g000004XYZWEA4"
    registry = {ORG: [TrustedKey(rsa_key.public_key())], other_org: [TrustedKey(other_rsa_key.public_key())]}
    verifier = JWTVerifier(
        policy=JWTPolicy(audiences=frozenset({AUD})), keys=lambda iss: registry.get(iss, []), clock=clock
    )
    assert verifier.verify(make_jws(claims(), rsa_key)).issuer == ORG
    assert verifier.verify(make_jws(claims(iss=other_org), other_rsa_key)).issuer == other_org
    # org B's key cannot speak for org A
    with pytest.raises(InvalidSignature):
        verifier.verify(make_jws(claims(iss=ORG), other_rsa_key))
    with pytest.raises(UnknownIssuer):
        verifier.verify(make_jws(claims(iss="00D000000000000EAA"), rsa_key))


def test_rotation_either_active_certificate_verifies(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, clock: FixedClock
) -> None:
    keys = [TrustedKey(rsa_key.public_key(), label="old"), TrustedKey(other_rsa_key.public_key(), label="new")]
    verifier = JWTVerifier(policy=JWTPolicy(audiences=frozenset({AUD})), keys=keys, clock=clock)
    assert verifier.verify(make_jws(claims(), rsa_key)).key.label == "old"
    assert verifier.verify(make_jws(claims(), other_rsa_key)).key.label == "new"


def test_required_claims_are_configurable(rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> None:
    policy = JWTPolicy(audiences=frozenset({AUD}), required_claims=frozenset({"sub", "org_id"}))
    verifier = JWTVerifier(policy=policy, keys=[TrustedKey(rsa_key.public_key())], clock=clock)
    with pytest.raises(MissingClaim, match="org_id"):
        verifier.verify(make_jws(claims(), rsa_key))
    assert verifier.verify(make_jws(claims(org_id=ORG), rsa_key)).claims["org_id"] == ORG
    lax = JWTVerifier(
        policy=JWTPolicy(audiences=frozenset({AUD}), required_claims=frozenset()),
        keys=[TrustedKey(rsa_key.public_key())],
        clock=clock,
    )
    assert lax.verify(make_jws(claims(sub=...), rsa_key)).subject is None


def test_size_limit_is_checked_before_parsing(rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> None:
    policy = JWTPolicy(audiences=frozenset({AUD}), max_token_bytes=1024)
    verifier = JWTVerifier(policy=policy, keys=[TrustedKey(rsa_key.public_key())], clock=clock)
    with pytest.raises(TokenTooLarge):
        verifier.verify(make_jws(claims(params={"blob": "x" * 2000}), rsa_key))
    with pytest.raises(TokenTooLarge):
        verifier.verify("!" * 1025)  # not even a JWS: the size check comes first


@pytest.mark.parametrize(
    "payload",
    [b"[1,2]", b'"x"', b"not json", b'{"iss":"a",', b"\xff\xfe", b'{"exp": NaN}', b"[" * 5000],
)
def test_claims_that_are_not_a_json_object(verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey, payload: bytes) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(make_jws(payload, rsa_key))


def test_policy_validation() -> None:
    with pytest.raises(ConfigurationError):
        JWTPolicy(audiences=frozenset())
    with pytest.raises(ConfigurationError):
        JWTPolicy(audiences=AUD)  # type: ignore[arg-type]  # a str is a collection of characters
    with pytest.raises(ConfigurationError):
        JWTPolicy(audiences=frozenset({AUD}), leeway=301)
    with pytest.raises(ConfigurationError):
        JWTPolicy(audiences=frozenset({AUD}), max_lifetime=0)
    with pytest.raises(ConfigurationError):
        JWTPolicy(audiences=frozenset({AUD}), issuers=frozenset())
    with pytest.raises(ConfigurationError):
        JWTVerifier(policy=JWTPolicy(audiences=frozenset({AUD}), algorithms=frozenset({"none"})), keys=[])
    with pytest.raises(ConfigurationError):
        JWTVerifier(policy=JWTPolicy(audiences=frozenset({AUD}), algorithms=frozenset()), keys=[])


def test_verify_jwt_one_shot(rsa_key: rsa.RSAPrivateKey, clock: FixedClock) -> None:
    token = make_jws(claims(), rsa_key)
    result = verify_jwt(token, keys=[TrustedKey(rsa_key.public_key())], audiences=[AUD], issuers=[ORG], clock=clock)
    assert result.subject == "user@example.com"
    with pytest.raises(InvalidAudience):
        verify_jwt(token, keys=[TrustedKey(rsa_key.public_key())], audiences=["https://x"], clock=clock)


def test_no_keys_for_issuer(clock: FixedClock, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JWTVerifier(policy=JWTPolicy(audiences=frozenset({AUD})), keys=[], clock=clock)
    with pytest.raises(UnknownIssuer):
        verifier.verify(make_jws(claims(), rsa_key))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=st.dictionaries(st.sampled_from(["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "x"]), _json_values))
def test_signed_arbitrary_claims_verify_or_raise_a_token_error(
    verifier: JWTVerifier, rsa_key: rsa.RSAPrivateKey, overrides: dict[str, Any]
) -> None:
    # Even correctly signed, any claim set either passes every rule or fails with a TokenError.
    token = make_jws(claims(**overrides), rsa_key)
    try:
        result = verifier.verify(token)
    except TokenError as exc:
        code = exc.code
    else:
        assert result.claims["iss"] == ORG
        assert result.claims["aud"] == AUD or AUD in result.claims["aud"]
        return
    assert code != TokenError.code  # always a specific subclass with its own code
