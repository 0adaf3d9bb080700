from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core.algorithms import SUPPORTED_ALGORITHMS
from forcegate.core.jws import JWSVerifier, parse_compact
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    ConfigurationError,
    InvalidSignature,
    KeyNotFound,
    MalformedToken,
    TokenError,
    TokenTooLarge,
    UnsupportedAlgorithm,
    UnsupportedCriticalHeader,
)
from helpers import b64url, make_jws, self_signed

CLAIMS = {"iss": "x", "exp": 1}


@pytest.fixture
def jws_verifier() -> JWSVerifier:
    return JWSVerifier(algorithms=["RS256"])


def test_parse_returns_header_payload_and_signing_input(rsa_key: rsa.RSAPrivateKey) -> None:
    token = make_jws(CLAIMS, rsa_key)
    parsed = parse_compact(token, algorithms={"RS256"})
    assert dict(parsed.header) == {"alg": "RS256"}
    assert parsed.payload == b'{"iss":"x","exp":1}'
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert len(parsed.signature) == 256


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJSUzI1NiJ9.e30.",  # empty signature: unsecured JWS
        ".e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",  # padding
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln=",
        "eyJhbGciOiJSUzI1NiJ9.e3+0.c2ln",  # standard-alphabet character
        "eyJhbGciOiJSUzI1NiJ9.e30.c2l/",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2 l",
        "eyJhbGciOiJSUzI1NiJ9.e30.c",  # impossible length
        "eyJhbGciOiJSUzI1NiJ9.e31.c2ln",  # non-canonical final character
        "eyJhbGciOiJSUzI1NiJ9.e30.c2lné",
        "eyJhbGciOiJSUzI1NiJ9\n.e30.c2ln",
    ],
)
def test_malformed_compact_serializations(jws_verifier: JWSVerifier, token: str) -> None:
    with pytest.raises(MalformedToken):
        jws_verifier.parse(token)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (b'{"alg":"none"}', UnsupportedAlgorithm),
        (b'{"alg":"NONE"}', UnsupportedAlgorithm),
        (b'{"alg":"HS256"}', UnsupportedAlgorithm),
        (b'{"alg":"RS256 "}', UnsupportedAlgorithm),
        (b'{"alg":["RS256"]}', MalformedToken),
        (b"{}", MalformedToken),
        (b"[]", MalformedToken),
        (b'{"alg":"RS256","alg":"RS256"}', MalformedToken),  # duplicate member
        (b'{"alg":"RS256","crit":["exp"],"exp":1}', UnsupportedCriticalHeader),
        (b'{"alg":"RS256","b64":false,"crit":["b64"]}', UnsupportedCriticalHeader),
        (b'{"alg":"RS256","b64":true}', UnsupportedCriticalHeader),
        (b'{"alg":"RS256","kid":5}', MalformedToken),
        (b'{"alg":"RS256","x5t#S256":null}', MalformedToken),
        (b"not json", MalformedToken),
        (b'{"alg":"RS256","n":NaN}', MalformedToken),
    ],
)
def test_header_rules(
    jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey, header: bytes, error: type[TokenError]
) -> None:
    token = make_jws(CLAIMS, rsa_key, header=header)
    with pytest.raises(error):
        jws_verifier.verify(token, [TrustedKey(rsa_key.public_key())])


def test_keys_in_the_header_are_never_used(
    jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    # The attacker signs with its own key and offers it in jwk/x5c/jku: the verifier must ignore it.
    attacker = other_rsa_key.public_key().public_numbers()
    header = {
        "alg": "RS256",
        "jwk": {"kty": "RSA", "n": b64url(attacker.n.to_bytes(256, "big")), "e": "AQAB"},
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIB"],
    }
    token = make_jws(CLAIMS, other_rsa_key, header=header)
    with pytest.raises(InvalidSignature):
        jws_verifier.verify(token, [TrustedKey(rsa_key.public_key())])


def test_kid_selects_among_several_keys(
    jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    keys = [TrustedKey(rsa_key.public_key(), kid="a"), TrustedKey(other_rsa_key.public_key(), kid="b")]
    token = make_jws(CLAIMS, other_rsa_key, header={"alg": "RS256", "kid": "b"})
    assert jws_verifier.candidates(jws_verifier.parse(token), keys) == [keys[1]]
    assert jws_verifier.verify(token, keys).key.kid == "b"
    # A kid naming the wrong key of the set fails: kid narrows the candidates.
    wrong = make_jws(CLAIMS, other_rsa_key, header={"alg": "RS256", "kid": "a"})
    with pytest.raises(InvalidSignature):
        jws_verifier.verify(wrong, keys)


def test_unknown_kid_falls_back_to_every_usable_key(
    jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    keys = [TrustedKey(other_rsa_key.public_key()), TrustedKey(rsa_key.public_key(), label="cert")]
    token = make_jws(CLAIMS, rsa_key, header={"alg": "RS256", "kid": "External Credential principal"})
    assert jws_verifier.verify(token, keys).key.label == "cert"


def test_x5t_s256_selects_the_certificate(
    jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    cert = self_signed(rsa_key)
    keys = [TrustedKey.from_certificate(self_signed(other_rsa_key)), TrustedKey.from_certificate(cert, label="c")]
    token = make_jws(CLAIMS, rsa_key, header={"alg": "RS256", "x5t#S256": keys[1].x5t_s256})
    assert jws_verifier.candidates(jws_verifier.parse(token), keys) == [keys[1]]
    assert jws_verifier.verify(token, keys).key.label == "c"
    unknown = make_jws(CLAIMS, rsa_key, header={"alg": "RS256", "x5t#S256": b64url(b"\0" * 32)})
    with pytest.raises(KeyNotFound, match="x5t#S256"):
        jws_verifier.verify(unknown, keys)


def test_expired_certificate_is_not_a_candidate(jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    old = self_signed(rsa_key, days=30, start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    key = TrustedKey.from_certificate(old, label="expired-cert")
    token = make_jws(CLAIMS, rsa_key)
    with pytest.raises(KeyNotFound, match="expired"):
        jws_verifier.verify(token, [key], now=dt.datetime.now(dt.UTC).timestamp())
    # without a time to compare against, the certificate window is not consulted
    assert jws_verifier.verify(token, [key]).key.label == "expired-cert"


def test_weak_rsa_key_is_refused(jws_verifier: JWSVerifier, weak_rsa_key: rsa.RSAPrivateKey) -> None:
    token = make_jws(CLAIMS, weak_rsa_key)
    with pytest.raises(KeyNotFound, match="2048"):
        jws_verifier.verify(token, [TrustedKey(weak_rsa_key.public_key())])


def test_key_restricted_by_its_algorithms(jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    key = TrustedKey(rsa_key.public_key(), algorithms=frozenset({"PS256"}))
    with pytest.raises(KeyNotFound, match="restricted"):
        jws_verifier.verify(make_jws(CLAIMS, rsa_key), [key])


def test_number_of_keys_tried_is_bounded(rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JWSVerifier(algorithms=["RS256"], max_keys=2)
    decoys = [TrustedKey(other_rsa_key.public_key(), label=f"decoy{i}") for i in range(2)]
    token = make_jws(CLAIMS, rsa_key)
    with pytest.raises(InvalidSignature):
        verifier.verify(token, [*decoys, TrustedKey(rsa_key.public_key())])
    assert verifier.verify(token, [TrustedKey(rsa_key.public_key()), *decoys]).key.label == ""


def test_shortened_rsa_signature_is_rejected(jws_verifier: JWSVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    # Find a signature with a leading zero byte, strip it: OpenSSL alone would accept it.
    for i in range(2000):
        token = make_jws({"i": i}, rsa_key)
        parsed = jws_verifier.parse(token)
        if parsed.signature[0] == 0:
            head, body, _ = token.split(".")
            with pytest.raises(InvalidSignature):
                jws_verifier.verify(f"{head}.{body}.{b64url(parsed.signature[1:])}", [TrustedKey(rsa_key.public_key())])
            return
    pytest.fail("no signature with a leading zero byte in 2000 tries")


def test_size_limit(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JWSVerifier(max_bytes=100)
    with pytest.raises(TokenTooLarge):
        verifier.parse(make_jws(CLAIMS, rsa_key))
    with pytest.raises(TokenTooLarge):
        verifier.parse(make_jws(CLAIMS, rsa_key).encode())


def test_non_ascii_bytes_are_malformed(jws_verifier: JWSVerifier) -> None:
    with pytest.raises(MalformedToken):
        jws_verifier.parse("eyJhbGciOiJSUzI1NiJ9.e30.c2ln\xe9".encode("latin-1"))


def test_configuration_is_validated() -> None:
    with pytest.raises(ConfigurationError):
        JWSVerifier(algorithms=[])
    with pytest.raises(ConfigurationError):
        JWSVerifier(algorithms=["none"])
    with pytest.raises(ConfigurationError):
        JWSVerifier(max_keys=0)


def test_header_cache_does_not_bypass_the_allow_list(rsa_key: rsa.RSAPrivateKey) -> None:
    # Two verifiers with different allow-lists must not share validated headers.
    permissive = JWSVerifier(algorithms=["RS256", "PS256"])
    strict = JWSVerifier(algorithms=["RS256"])
    token = make_jws(CLAIMS, rsa_key, alg="PS256")
    permissive.parse(token)
    with pytest.raises(UnsupportedAlgorithm):
        strict.parse(token)


def test_header_cache_is_bounded(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JWSVerifier()
    for i in range(200):
        verifier.parse(make_jws(CLAIMS, rsa_key, header={"alg": "RS256", "kid": str(i)}))
    assert len(verifier._headers) <= JWSVerifier.HEADER_CACHE_SIZE


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_input_is_only_ever_a_token_error(token: str | bytes) -> None:
    verifier = JWSVerifier(algorithms=SUPPORTED_ALGORITHMS)
    with pytest.raises(TokenError):
        verifier.parse(token)


@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "x5t#S256", "jku"]),
        st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none()),
        max_size=5,
    ),
    payload=st.binary(max_size=64),
)
def test_arbitrary_headers_parse_or_fail_with_a_token_error(header: dict[str, object], payload: bytes) -> None:
    token = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}.{b64url(b'signature')}"
    verifier = JWSVerifier(algorithms=SUPPORTED_ALGORITHMS)
    try:
        parsed = verifier.parse(token)
    except TokenError:
        return
    assert parsed.algorithm == header["alg"]
    assert parsed.payload == payload
