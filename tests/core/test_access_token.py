from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from forcegate.clock import FixedClock
from forcegate.core import access_token as access_token_module
from forcegate.core import ids
from forcegate.core.access_token import (
    MAX_ACCESS_TOKEN_BYTES,
    AccessTokenIssuer,
    AccessTokenVerifier,
    es256_jwk,
    es256_thumbprint,
    new_signing_key,
    record_mac_key,
)
from forcegate.core.algorithms import JWSAlgorithm
from forcegate.core.identity import Identity
from forcegate.errors import ClaimsTooLarge, ConfigurationError, InvalidAccessToken
from forcegate.keys import key_from_jwk, rfc7638_thumbprint
from helpers import b64url, make_jws

NOW = 1_750_000_000
SERVICE = "https://svc.example.com"
ORG = ids.to18("00D5g000004ABCD")
USER = ids.to18("0055g00000AbCdE")
CLIENT = ORG
#: The order n of P-256 (SEC 2 §2.4.2): (r, n - s) is the twin of the signature (r, s).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture(scope="module")
def signing() -> tuple[ec.EllipticCurvePrivateKey, str]:
    return new_signing_key()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def issuer(signing: tuple[ec.EllipticCurvePrivateKey, str], clock: FixedClock) -> AccessTokenIssuer:
    key, kid = signing
    return AccessTokenIssuer(private_key=key, kid=kid, issuer=SERVICE, audience=SERVICE, lifetime=600, clock=clock)


@pytest.fixture
def verifier(signing: tuple[ec.EllipticCurvePrivateKey, str], clock: FixedClock) -> AccessTokenVerifier:
    key, kid = signing
    return AccessTokenVerifier(keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, clock=clock)


def identity(**overrides: Any) -> Identity:
    values: dict[str, Any] = {
        "source": "jwt-bearer",
        "org_id": ORG,
        "user_id": USER,
        "username": "u@acme.example",
        "instance_url": "https://acme.my.salesforce.com",
        "record_id": None,
        "parameters": {"mode": "edit", "ids": [1, 2]},
        "scopes": frozenset({"refresh", "api"}),
        "issuer": CLIENT,
        "expires_at": NOW + 300,
    }
    values.update(overrides)
    return Identity(**values)


def decode_part(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def test_round_trip(issuer: AccessTokenIssuer, verifier: AccessTokenVerifier) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT)
    result = verifier.verify(token)
    assert result.identity == identity(expires_at=NOW + 600)  # the token's own expiry
    assert result.jti == record.jti
    assert result.client_id == CLIENT
    assert result.expires_at == NOW + 600
    assert record.org_id == ORG
    assert record.user_id == USER
    assert record.client_id == CLIENT
    assert record.scope == "api refresh"
    assert (record.issued_at, record.expires_at) == (NOW, NOW + 600)


def test_rfc9068_header_and_claims(issuer: AccessTokenIssuer, signing: tuple[ec.EllipticCurvePrivateKey, str]) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT)
    assert decode_part(token, 0) == {"alg": "ES256", "typ": "at+jwt", "kid": signing[1]}
    claims = decode_part(token, 1)
    assert claims == {
        "iss": SERVICE,
        "aud": SERVICE,
        "sub": USER,
        "client_id": CLIENT,
        "iat": NOW,
        "exp": NOW + 600,
        "jti": record.jti,
        "scope": "api refresh",
        "org_id": ORG,
        "user_id": USER,
        "username": "u@acme.example",
        "instance_url": "https://acme.my.salesforce.com",
        "params": {"mode": "edit", "ids": [1, 2]},
        "src": "jwt-bearer",
    }
    # The issue time in milliseconds (12 hex digits: consecutive ids sort together), then 128 random bits.
    assert abs(int(record.jti[:12], 16) / 1000 - time.time()) < 60
    assert len(base64.urlsafe_b64decode(record.jti[12:] + "==")) == 16


def test_token_ids_sort_by_issue_time_and_never_repeat(issuer: AccessTokenIssuer) -> None:
    ids = [issuer.issue(identity(), client_id=CLIENT)[1].jti for _ in range(3)]
    time.sleep(0.002)
    later = issuer.issue(identity(), client_id=CLIENT)[1].jti
    assert len(set(ids)) == 3
    assert all(jti < later for jti in ids)  # a later millisecond sorts after (the index appends)


def test_without_a_user_sub_is_the_org_and_empty_claims_are_left_out(issuer: AccessTokenIssuer) -> None:
    token, record = issuer.issue(
        identity(user_id=None, username=None, instance_url=None, parameters={}, scopes=frozenset()), client_id=CLIENT
    )
    claims = decode_part(token, 1)
    assert claims["sub"] == ORG
    assert not {"user_id", "username", "instance_url", "record_id", "params", "scope"} & set(claims)
    assert record.scope == ""


def test_jti_is_unique(issuer: AccessTokenIssuer) -> None:
    assert len({issuer.issue(identity(), client_id=CLIENT)[1].jti for _ in range(50)}) == 50


def test_lifetime_per_call(issuer: AccessTokenIssuer, verifier: AccessTokenVerifier) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT, lifetime=60)
    assert record.expires_at == NOW + 60
    assert verifier.verify(token).expires_at == NOW + 60
    with pytest.raises(ConfigurationError):
        issuer.issue(identity(), client_id=CLIENT, lifetime=0)


def test_an_independent_library_verifies_the_token(
    issuer: AccessTokenIssuer, signing: tuple[ec.EllipticCurvePrivateKey, str]
) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    claims = pyjwt.decode(
        token,
        signing[0].public_key(),
        algorithms=["ES256"],
        audience=SERVICE,
        issuer=SERVICE,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["client_id"] == CLIENT


def test_jwk_and_thumbprint_agree_with_the_keys_package(signing: tuple[ec.EllipticCurvePrivateKey, str]) -> None:
    key, kid = signing
    public = key.public_key()
    assert kid == es256_thumbprint(public) == rfc7638_thumbprint(public)
    jwk = es256_jwk(public, kid)
    assert jwk["kid"] == kid
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    entry = key_from_jwk(jwk)
    assert isinstance(entry.public_key, ec.EllipticCurvePublicKey)
    assert entry.public_key.public_numbers() == public.public_numbers()
    assert (entry.kid, entry.jwk_alg) == (kid, "ES256")


def test_keys_that_are_not_p256_are_refused(clock: FixedClock) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ConfigurationError):
        AccessTokenIssuer(private_key=p384, kid="k", issuer=SERVICE, audience=SERVICE)
    with pytest.raises(ConfigurationError):
        AccessTokenVerifier(keys={"k": p384.public_key()}, issuer=SERVICE, audience=SERVICE)
    with pytest.raises(ConfigurationError):
        es256_jwk(p384.public_key(), "k")


def test_oversized_tokens_are_not_issued(issuer: AccessTokenIssuer) -> None:
    with pytest.raises(ClaimsTooLarge):
        issuer.issue(identity(parameters={"blob": "x" * MAX_ACCESS_TOKEN_BYTES}), client_id=CLIENT)


# --- refusals -----------------------------------------------------------------------------------------


def sign(
    key: ec.EllipticCurvePrivateKey, claims: dict[str, Any], header: dict[str, Any] | None = None, **kw: Any
) -> str:
    return make_jws(claims, key, alg="ES256", header=header, **kw)


def good_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": SERVICE,
        "aud": SERVICE,
        "sub": USER,
        "client_id": CLIENT,
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "abc",
        "org_id": ORG,
        "src": "jwt-bearer",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


def test_a_token_signed_independently_is_accepted(
    verifier: AccessTokenVerifier, signing: tuple[ec.EllipticCurvePrivateKey, str]
) -> None:
    key, kid = signing
    for typ in ("at+jwt", "application/at+jwt"):
        token = sign(key, good_claims(), {"alg": "ES256", "typ": typ, "kid": kid})
        assert verifier.verify(token).identity.org_id == ORG


@pytest.mark.parametrize(
    ("header", "claims", "reason"),
    [
        ({"alg": "ES256", "typ": "JWT"}, {}, "typ"),
        ({"typ": ...}, {}, "typ"),
        ({"alg": "ES256", "typ": "at+jwt", "kid": "unknown"}, {}, "kid"),
        ({"alg": "ES256", "typ": "at+jwt", "kid": 5}, {}, "kid"),
        ({"kid": ...}, {}, "kid"),
        ({}, {"iss": "https://other.example.com"}, "issuer"),
        ({}, {"aud": "https://other.example.com"}, "audience"),
        ({}, {"aud": [SERVICE]}, "audience"),
        ({}, {"exp": NOW - 60}, "expired"),
        ({}, {"exp": ...}, "'exp'"),
        ({}, {"exp": float(NOW + 600)}, "'exp'"),
        ({}, {"iat": NOW + 61}, "future"),
        ({}, {"iat": ...}, "'iat'"),
        ({}, {"jti": ...}, "'jti'"),
        ({}, {"client_id": ""}, "'client_id'"),
        ({}, {"sub": ...}, "'sub'"),
        ({}, {"org_id": ...}, "'org_id'"),
        ({}, {"src": "canvas!"}, "'src'"),
        ({}, {"src": ...}, "'src'"),
        ({}, {"params": [1]}, "'params'"),
        ({}, {"scope": ["api"]}, "'scope'"),
        ({}, {"user_id": 5}, "'user_id'"),
    ],
)
def test_refusals(
    verifier: AccessTokenVerifier,
    signing: tuple[ec.EllipticCurvePrivateKey, str],
    header: dict[str, Any],
    claims: dict[str, Any],
    reason: str,
) -> None:
    key, kid = signing
    full_header = {k: v for k, v in ({"alg": "ES256", "typ": "at+jwt", "kid": kid} | header).items() if v is not ...}
    with pytest.raises(InvalidAccessToken, match=reason) as caught:
        verifier.verify(sign(key, good_claims(**claims), full_header))
    assert (caught.value.code, caught.value.oauth_error, caught.value.status) == (
        "invalid_access_token",
        "invalid_token",
        401,
    )


def test_expiry_boundary_with_leeway(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, clock: FixedClock
) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    clock.set(NOW + 600 + 59)
    verifier.verify(token)
    fresh = AccessTokenVerifier(keys=dict(verifier._keys), issuer=SERVICE, audience=SERVICE, clock=clock)
    clock.set(NOW + 600 + 60)
    with pytest.raises(InvalidAccessToken, match="expired"):
        fresh.verify(token)


def test_tampering_is_refused(issuer: AccessTokenIssuer, verifier: AccessTokenVerifier) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    head, payload, signature = token.split(".")
    claims = decode_part(token, 1) | {"org_id": ids.to18("00D5g000009WXYZ")}
    forged_payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    with pytest.raises(InvalidAccessToken, match="signature"):
        verifier.verify(f"{head}.{forged_payload}.{signature}")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(InvalidAccessToken, match="signature"):
        verifier.verify(f"{head}.{payload}.{flipped}")


def test_a_key_of_another_service_under_a_known_kid_is_refused(
    verifier: AccessTokenVerifier, signing: tuple[ec.EllipticCurvePrivateKey, str], clock: FixedClock
) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    impostor = AccessTokenIssuer(private_key=stranger, kid=signing[1], issuer=SERVICE, audience=SERVICE, clock=clock)
    with pytest.raises(InvalidAccessToken, match="signature"):
        verifier.verify(impostor.issue(identity(), client_id=CLIENT)[0])


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "x" * (MAX_ACCESS_TOKEN_BYTES + 1), "e30.e30.", "not.base64!.x", "eyJhbGciOiJub25lIn0.e30.AAAA"],
)
def test_malformed_tokens(verifier: AccessTokenVerifier, token: str) -> None:
    with pytest.raises(InvalidAccessToken):
        verifier.verify(token)


def test_other_algorithms_are_refused(
    verifier: AccessTokenVerifier, signing: tuple[ec.EllipticCurvePrivateKey, str], rsa_key: Any
) -> None:
    header = {"alg": "RS256", "typ": "at+jwt", "kid": signing[1]}
    with pytest.raises(InvalidAccessToken, match="unsupported_algorithm"):
        verifier.verify(make_jws(good_claims(), rsa_key, alg="RS256", header=header))


# --- the verified-token cache ---------------------------------------------------------------------------


class CountingES256:
    def __init__(self, real: JWSAlgorithm) -> None:
        self.real = real
        self.calls = 0

    def verify(self, key: Any, signing_input: bytes, signature: bytes) -> bool:
        self.calls += 1
        return self.real.verify(key, signing_input, signature)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingES256:
    counter = CountingES256(access_token_module._ES256)
    monkeypatch.setattr(access_token_module, "_ES256", counter)
    return counter


def test_a_cache_hit_skips_the_signature_check(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, counting: CountingES256
) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    first = verifier.verify(token)
    assert verifier.verify(token) is first
    assert verifier.verify(token) is first
    assert counting.calls == 1


def test_the_cache_honours_expiry(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, clock: FixedClock, counting: CountingES256
) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT, lifetime=60)
    verifier.verify(token)
    clock.advance(60 + 59)
    verifier.verify(token)  # still within leeway: a hit
    assert counting.calls == 1
    clock.advance(1)
    with pytest.raises(InvalidAccessToken, match="expired"):
        verifier.verify(token)
    with pytest.raises(InvalidAccessToken, match="expired"):
        verifier.verify(token)


def test_failures_are_not_cached(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, counting: CountingES256
) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    broken = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(3):
        with pytest.raises(InvalidAccessToken):
            verifier.verify(broken)
    assert counting.calls == 3


def test_the_cache_is_bounded_oldest_first(
    issuer: AccessTokenIssuer,
    signing: tuple[ec.EllipticCurvePrivateKey, str],
    clock: FixedClock,
    counting: CountingES256,
) -> None:
    key, kid = signing
    small = AccessTokenVerifier(
        keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, clock=clock, cache_size=2
    )
    a, b, c = (issuer.issue(identity(), client_id=CLIENT)[0] for _ in range(3))
    for token in (a, b, c):
        small.verify(token)
    assert counting.calls == 3
    small.verify(c)
    small.verify(b)
    assert counting.calls == 3
    small.verify(a)  # evicted when c came in
    assert counting.calls == 4


def test_cache_size_zero_disables_the_cache(
    issuer: AccessTokenIssuer,
    signing: tuple[ec.EllipticCurvePrivateKey, str],
    clock: FixedClock,
    counting: CountingES256,
) -> None:
    key, kid = signing
    uncached = AccessTokenVerifier(
        keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, clock=clock, cache_size=0
    )
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    uncached.verify(token)
    uncached.verify(token)
    assert counting.calls == 2


def test_configuration_errors(signing: tuple[ec.EllipticCurvePrivateKey, str]) -> None:
    key, kid = signing
    with pytest.raises(ConfigurationError):
        AccessTokenVerifier(keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, cache_size=-1)
    with pytest.raises(ConfigurationError):
        AccessTokenVerifier(keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, leeway=301)
    with pytest.raises(ConfigurationError):
        AccessTokenIssuer(private_key=key, kid="", issuer=SERVICE, audience=SERVICE)
    with pytest.raises(ConfigurationError):
        AccessTokenIssuer(private_key=key, kid=kid, issuer=SERVICE, audience=SERVICE, lifetime=0)


# --- the service's own check: sign again and compare (decision 0019) -------------------------------


@pytest.fixture
def service_verifier(signing: tuple[ec.EllipticCurvePrivateKey, str], clock: FixedClock) -> AccessTokenVerifier:
    key, kid = signing
    return AccessTokenVerifier(
        keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, clock=clock, cache_size=0,
        signing_keys={kid: key},
    )  # fmt: skip


def _no_public_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoVerify:
        def verify(self, *_: object) -> bool:
            raise AssertionError("the public-key verify ran")

    monkeypatch.setattr(access_token_module, "_ES256", NoVerify())


def test_tokens_are_signed_deterministically(
    issuer: AccessTokenIssuer, signing: tuple[ec.EllipticCurvePrivateKey, str]
) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    signing_input, _, signature = token.rpartition(".")
    key, _ = signing
    again = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(again)
    assert b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")) == signature


def test_the_service_checks_its_own_token_without_a_verify(
    issuer: AccessTokenIssuer, service_verifier: AccessTokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT)
    _no_public_verify(monkeypatch)
    assert service_verifier.verify(token).jti == record.jti


def test_the_service_check_is_strict_and_falls_back_to_the_verify(
    issuer: AccessTokenIssuer,
    service_verifier: AccessTokenVerifier,
    signing: tuple[ec.EllipticCurvePrivateKey, str],
) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT)
    head, payload, signature = token.split(".")
    # Tampered claims or signature: not the signature issued, and the verify refuses them too.
    claims = decode_part(token, 1) | {"org_id": ids.to18("00D5g000009WXYZ")}
    forged_payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    with pytest.raises(InvalidAccessToken, match="signature"):
        service_verifier.verify(f"{head}.{forged_payload}.{signature}")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(InvalidAccessToken, match="signature"):
        service_verifier.verify(f"{head}.{payload}.{flipped}")
    # A token signed with a random nonce (a version before deterministic signing): the verify decides.
    key, _ = signing
    r, s = decode_dss_signature(key.sign(f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256())))
    randomized = f"{head}.{payload}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    assert randomized != token
    assert service_verifier.verify(randomized).jti == record.jti


# --- the record MAC: the service's check on the lookup it makes anyway (decision 0025) -----------------


def _no_signature_check(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_public_verify(monkeypatch)

    def no_sign(*_: object) -> bytes:
        raise AssertionError("the token was signed again")

    monkeypatch.setattr(access_token_module, "_es256", no_sign)


def test_the_record_mac_checks_a_token_without_public_key_cryptography(
    issuer: AccessTokenIssuer, service_verifier: AccessTokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT)
    assert record.mac is not None
    assert token not in record.mac  # a MAC of the token, not the token
    _no_signature_check(monkeypatch)
    opened = service_verifier.open(token)
    assert opened.jti == record.jti
    assert service_verifier.check(opened, record.mac).identity.org_id == ORG


def test_a_token_other_than_the_one_recorded_is_refused_by_its_mac(
    issuer: AccessTokenIssuer,
    service_verifier: AccessTokenVerifier,
    signing: tuple[ec.EllipticCurvePrivateKey, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT)
    other, other_record = issuer.issue(identity(), client_id=CLIENT)
    head, payload, signature = token.split(".")
    key, _ = signing
    # The ECDSA twin (r, n - s) of the issued signature: a public verify accepts it; the MAC does not.
    signing_input = f"{head}.{payload}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    twin_signature = r.to_bytes(32, "big") + (P256_ORDER - s).to_bytes(32, "big")
    assert access_token_module._ES256.verify(key.public_key(), signing_input, twin_signature)
    twin = f"{head}.{payload}.{b64url(twin_signature)}"
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    _no_signature_check(monkeypatch)
    candidates = ((twin, record.mac), (f"{head}.{payload}.{flipped}", record.mac), (other, record.mac))
    for candidate, mac in (*candidates, (token, other_record.mac)):
        with pytest.raises(InvalidAccessToken, match="signature"):
            service_verifier.check(service_verifier.open(candidate), mac)


def test_without_a_recorded_mac_the_signature_decides(
    issuer: AccessTokenIssuer, service_verifier: AccessTokenVerifier, verifier: AccessTokenVerifier
) -> None:
    token, record = issuer.issue(identity(), client_id=CLIENT)
    assert service_verifier.check(service_verifier.open(token), None).jti == record.jti
    # A resource server holds no signing key, so no MAC key: a MAC offered is not what decides.
    assert verifier.check(verifier.open(token), "not-a-mac").jti == record.jti


def test_the_record_mac_key_follows_the_signing_key(signing: tuple[ec.EllipticCurvePrivateKey, str]) -> None:
    key, kid = signing
    assert record_mac_key(key, kid) == record_mac_key(key, kid)
    assert record_mac_key(key, kid) != record_mac_key(key, kid + "x")
    assert record_mac_key(key, kid) != record_mac_key(ec.generate_private_key(ec.SECP256R1()), kid)


def test_open_reads_the_jti_only_from_a_json_object(
    service_verifier: AccessTokenVerifier, issuer: AccessTokenIssuer
) -> None:
    token, _ = issuer.issue(identity(), client_id=CLIENT)
    head, _, signature = token.split(".")
    for payload in (b"[1]", b'{"jti": 5}'):
        assert service_verifier.open(f"{head}.{b64url(payload)}.{signature}").jti is None
    with pytest.raises(InvalidAccessToken, match="signature"):
        service_verifier.check(service_verifier.open(f"{head}.{b64url(b'not json')}.{signature}"), None)


def test_a_signing_key_must_be_the_private_half_of_its_kid(signing: tuple[ec.EllipticCurvePrivateKey, str]) -> None:
    key, kid = signing
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigurationError, match="private half"):
        AccessTokenVerifier(keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, signing_keys={kid: other})
    with pytest.raises(ConfigurationError, match="private half"):
        AccessTokenVerifier(keys={kid: key.public_key()}, issuer=SERVICE, audience=SERVICE, signing_keys={"x": key})
