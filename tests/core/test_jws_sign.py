"""forcegate.core.jws_sign: what it signs, forcegate's strict verifier and an independent signer agree on."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from forcegate.core.jws import JWSVerifier
from forcegate.core.jws_sign import SIGNING_ALGORITHMS, encode_header, sign, sign_compact
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import ConfigurationError
from helpers import b64url, make_jws

PAYLOAD = b'{"iss":"00D5g000004ABCDEA4","sub":"ada@acme.example","exp":1700000300}'
CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


@pytest.fixture(scope="module")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {alg: ec.generate_private_key(curve) for alg, curve in CURVES.items()}


def _decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_the_algorithms_are_rsa_and_ecdsa() -> None:
    assert {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"} == SIGNING_ALGORITHMS


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rsa_pkcs1_is_byte_identical_to_an_independent_signer(rsa_key: rsa.RSAPrivateKey, alg: str) -> None:
    # PKCS#1 v1.5 is deterministic: the whole token must match, header bytes included.
    assert sign_compact(PAYLOAD, rsa_key, alg=alg) == make_jws(PAYLOAD, rsa_key, alg=alg)


@pytest.mark.parametrize("alg", sorted(SIGNING_ALGORITHMS))
def test_every_algorithm_verifies_with_the_strict_verifier(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey], alg: str
) -> None:
    key = ec_keys[alg] if alg.startswith("ES") else rsa_key
    token = sign_compact(PAYLOAD, key, alg=alg)
    verified = JWSVerifier(algorithms=[alg]).verify(token, [TrustedKey(key.public_key())])
    assert verified.payload == PAYLOAD
    assert verified.header == {"alg": alg}


@pytest.mark.parametrize(("alg", "size"), [("ES256", 64), ("ES384", 96), ("ES512", 132)])
def test_ecdsa_signatures_are_r_and_s_not_der(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], alg: str, size: int
) -> None:
    assert len(sign(alg, ec_keys[alg], b"input")) == size


def test_the_header_is_compact_json_with_alg_first() -> None:
    assert _decode(encode_header("RS256")) == b'{"alg":"RS256"}'
    assert _decode(encode_header("ES256", {"typ": "JWT", "kid": "k1"})) == b'{"alg":"ES256","typ":"JWT","kid":"k1"}'


def test_extra_header_members_are_signed(rsa_key: rsa.RSAPrivateKey) -> None:
    token = sign_compact(PAYLOAD, rsa_key, header={"kid": "k1"})
    verified = JWSVerifier(algorithms=["RS256"]).verify(token, [TrustedKey(rsa_key.public_key(), kid="k1")])
    assert verified.header == {"alg": "RS256", "kid": "k1"}
    assert token.split(".")[1] == b64url(PAYLOAD)


def test_the_payload_is_signed_as_given(rsa_key: rsa.RSAPrivateKey) -> None:
    # Not JSON, not re-encoded: callers decide the bytes (Apex's claim order, a malformed test token).
    token = sign_compact(b"\x00not json\xff", rsa_key)
    assert _decode(token.split(".")[1]) == b"\x00not json\xff"


def test_alg_cannot_come_from_the_extra_header(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigurationError, match="alg"):
        sign_compact(PAYLOAD, rsa_key, header={"alg": "none"})


def test_a_header_that_is_not_json_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigurationError, match="JSON"):
        sign_compact(PAYLOAD, rsa_key, header={"kid": object()})


@pytest.mark.parametrize("alg", ["none", "HS256", "EdDSA", "rs256", ""])
def test_unsupported_algorithms_are_refused(rsa_key: rsa.RSAPrivateKey, alg: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot sign"):
        sign_compact(PAYLOAD, rsa_key, alg=alg)


def test_a_key_must_fit_its_algorithm(
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    ed_key: ed25519.Ed25519PrivateKey,
    weak_rsa_key: rsa.RSAPrivateKey,
) -> None:
    with pytest.raises(ConfigurationError, match="RSA private key"):
        sign("RS256", ec_keys["ES256"], b"x")
    with pytest.raises(ConfigurationError, match="EC private key on secp256r1"):
        sign("ES256", rsa_key, b"x")
    with pytest.raises(ConfigurationError, match="EC private key on secp384r1"):
        sign("ES384", ec_keys["ES256"], b"x")  # RFC 7518 §3.4: one curve per algorithm
    with pytest.raises(ConfigurationError, match="RSA private key"):
        sign("PS256", ed_key, b"x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="below the 2048-bit minimum"):
        sign("RS256", weak_rsa_key, b"x")
