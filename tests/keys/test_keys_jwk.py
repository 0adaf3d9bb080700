from __future__ import annotations

import base64
import json
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OKPKey, RSAKey

from forcegate.core._b64 import b64url_decode, b64url_encode
from forcegate.core.trusted_key import PublicKey, x5t_s256
from forcegate.errors import ConfigurationError, KeyMaterialError, WeakKeyError
from forcegate.keys import KeyEntry, key_from_jwk, load_jwks, public_jwk, rfc7638_thumbprint
from forcegate.keys.model import same_public_key
from helpers import VECTORS
from keys.keys_support import WARNING_FILTERS, odd_certificate_der, warnings_filter

COOKBOOK = VECTORS / "jose" / "ietf-jose-cookbook" / "jwk"

# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
    "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
    "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
    "kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _cookbook(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((COOKBOOK / name).read_text())
    return document


@pytest.fixture(scope="module")
def rsa_jwk(rsa_entry: KeyEntry) -> dict[str, Any]:
    assert rsa_entry.public_key is not None
    return public_jwk(rsa_entry.public_key, kid="rsa-1", alg="RS256")


def _public(entry: KeyEntry) -> PublicKey:
    assert entry.public_key is not None
    return entry.public_key


def test_rfc7638_known_answer() -> None:
    entry = key_from_jwk({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"})
    assert rfc7638_thumbprint(_public(entry)) == RFC7638_THUMBPRINT


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ec_round_trip(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve).public_key()
    jwk = public_jwk(key, kid="ec")
    size = {"secp256r1": 32, "secp384r1": 48, "secp521r1": 66}[curve.name]
    assert len(b64url_decode(jwk["x"])) == size  # fixed length, even when the top bytes are zero
    assert len(b64url_decode(jwk["y"])) == size
    entry = key_from_jwk(jwk)
    assert same_public_key(entry.public_key, key)
    assert (entry.kind, entry.kid, entry.alias, entry.source_format) == ("public_key", "ec", "ec", "jwk")
    assert rfc7638_thumbprint(key) == ECKey.import_key(jwk).thumbprint()


def test_rsa_round_trip(rsa_entry: KeyEntry, rsa_jwk: dict[str, Any]) -> None:
    assert rsa_jwk["kty"] == "RSA"
    assert rsa_jwk["use"] == "sig"
    assert rsa_jwk["e"] == "AQAB"
    assert "d" not in rsa_jwk
    entry = key_from_jwk(rsa_jwk)
    assert same_public_key(entry.public_key, rsa_entry.public_key)
    assert entry.jwk_alg == "RS256"
    assert rfc7638_thumbprint(_public(entry)) == RSAKey.import_key(rsa_jwk).thumbprint()


def test_ed25519_round_trip() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    jwk = public_jwk(key, alg="EdDSA")
    assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
    entry = key_from_jwk(jwk)
    assert same_public_key(entry.public_key, key)
    assert entry.alias == rfc7638_thumbprint(key)  # no kid: the thumbprint names it
    assert rfc7638_thumbprint(key) == OKPKey.import_key(jwk).thumbprint()


def test_cookbook_keys() -> None:
    public = key_from_jwk(_cookbook("3_3.rsa_public_key.json"))
    assert public.kind == "public_key"
    assert public.kid == "bilbo.baggins@hobbiton.example"
    private = key_from_jwk(_cookbook("3_4.rsa_private_key.json"))
    assert private.kind == "private_key"
    assert same_public_key(private.public_key, public.public_key)
    jwk = public_jwk(_public(public), kid=public.kid)
    assert {k: jwk[k] for k in ("n", "e", "kid")} == {
        k: _cookbook("3_3.rsa_public_key.json")[k] for k in ("n", "e", "kid")
    }
    ec_private = key_from_jwk(_cookbook("3_2.ec_private_key.json"))
    assert ec_private.kind == "private_key"
    assert same_public_key(ec_private.public_key, key_from_jwk(_cookbook("3_1.ec_public_key.json")).public_key)
    secret = key_from_jwk(_cookbook("3_5.symmetric_key_mac_computation.json"))
    assert (secret.kind, secret.jwk_alg, len(secret.secret or b"")) == ("secret_key", "HS256", 32)


def test_rsa_private_jwk_with_only_d() -> None:
    full = _cookbook("3_4.rsa_private_key.json")
    minimal = {k: full[k] for k in ("kty", "n", "e", "d")}
    entry = key_from_jwk(minimal)
    assert isinstance(entry.private_key, rsa.RSAPrivateKey)
    assert entry.private_key.private_numbers().p in (int.from_bytes(b64url_decode(full[k]), "big") for k in "pq")


def test_certificate_in_jwk(rsa_entry: KeyEntry) -> None:
    assert rsa_entry.certificate is not None
    jwk = public_jwk(_public(rsa_entry), kid="with-cert", certificate=rsa_entry.certificate)
    assert jwk["x5t#S256"] == x5t_s256(rsa_entry.certificate)
    assert base64.b64decode(jwk["x5c"][0]) == rsa_entry.certificate.public_bytes(Encoding.DER)
    entry = key_from_jwk(jwk)
    assert entry.certificate == rsa_entry.certificate


def test_certificate_must_hold_the_key(rsa_entry: KeyEntry, second_rsa_entry: KeyEntry) -> None:
    with pytest.raises(KeyMaterialError, match="does not hold"):
        public_jwk(_public(rsa_entry), certificate=second_rsa_entry.certificate)
    assert second_rsa_entry.certificate is not None
    jwk = public_jwk(_public(rsa_entry))
    jwk["x5c"] = [base64.b64encode(second_rsa_entry.certificate.public_bytes(Encoding.DER)).decode()]
    with pytest.raises(KeyMaterialError, match="x5c"):
        key_from_jwk(jwk)


def test_public_jwk_refuses_an_alg_that_does_not_fit(rsa_entry: KeyEntry) -> None:
    with pytest.raises(ConfigurationError, match="ES256"):
        public_jwk(_public(rsa_entry), alg="ES256")


def _wycheproof_group(comment: str) -> dict[str, Any]:
    document = json.loads((VECTORS / "json_web_key_test.json").read_text())
    group: dict[str, Any] = next(g for g in document["testGroups"] if g["comment"] == comment)
    return group


def _small_rsa_jwk() -> dict[str, Any]:
    jwk: dict[str, Any] = _wycheproof_group("keysize_too_small")["public"]["keys"][0]
    return jwk


@pytest.mark.parametrize(
    ("jwk", "error", "match"),
    [
        (_small_rsa_jwk(), WeakKeyError, "1024 bits"),
        ({"kty": "RSA", "n": RFC7638_N, "e": "AQ"}, WeakKeyError, "exponent 1"),
        ({"kty": "RSA", "n": RFC7638_N, "e": "Aw", "use": "enc"}, KeyMaterialError, "use 'enc'"),
        ({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "key_ops": ["encrypt"]}, KeyMaterialError, "key_ops"),
        ({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "key_ops": ["sign"]}, KeyMaterialError, "verify"),
        ({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "ES256"}, KeyMaterialError, "alg 'ES256'"),
        ({"kty": "RSA", "n": "AA" + RFC7638_N, "e": "AQAB"}, KeyMaterialError, "minimal"),
        ({"kty": "RSA", "n": RFC7638_N + "=", "e": "AQAB"}, KeyMaterialError, "base64url"),
        ({"kty": "RSA", "n": 12345, "e": "AQAB"}, KeyMaterialError, "not a string"),
        ({"kty": "RSA", "e": "AQAB"}, KeyMaterialError, "'n' is missing"),
        ({"kty": "oct", "k": b64url_encode(bytes(31)), "alg": "HS256"}, WeakKeyError, "31 bytes"),
        ({"kty": "oct", "k": b64url_encode(bytes(47)), "alg": "HS384"}, WeakKeyError, "HS384"),
        ({"kty": "oct", "k": ""}, WeakKeyError, "0 bytes"),
        ({"kty": "oct", "k": b64url_encode(bytes(32)), "alg": "A256GCM"}, KeyMaterialError, "alg 'A256GCM'"),
        ({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}, KeyMaterialError, "curve"),
        ({"kty": "OKP", "crv": "X25519", "x": b64url_encode(bytes(32))}, KeyMaterialError, "X25519"),
        ({"kty": "dir"}, KeyMaterialError, "kty 'dir'"),
        ({"n": RFC7638_N, "e": "AQAB"}, KeyMaterialError, "'kty' is missing"),
    ],
)
def test_policy_rejections(jwk: dict[str, Any], error: type[KeyMaterialError], match: str) -> None:
    with pytest.raises(error, match=match):
        key_from_jwk(jwk)


def test_ec_defects() -> None:
    good = public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(KeyMaterialError, match="not 48 bytes long as P-384"):
        key_from_jwk({**good, "crv": "P-384"})
    y = bytearray(b64url_decode(good["y"]))
    y[-1] ^= 1
    with pytest.raises(KeyMaterialError, match="not on P-256"):
        key_from_jwk({**good, "y": b64url_encode(bytes(y))})
    other = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    with pytest.raises(KeyMaterialError, match="does not match"):
        key_from_jwk({**good, "d": b64url_encode(other)})


def test_roca_key_is_refused() -> None:
    jwk = _wycheproof_group("jws_rsa_roca_key")["public"]["keys"][0]
    with pytest.raises(WeakKeyError, match="ROCA"):
        key_from_jwk(jwk)


def test_jwks_duplicate_kid() -> None:
    jwk = {"kty": "oct", "k": b64url_encode(bytes(range(32))), "kid": "same"}
    with pytest.raises(KeyMaterialError, match="duplicate kid"):
        load_jwks({"keys": [jwk, {**jwk, "k": b64url_encode(bytes(range(1, 33)))}]})


def test_jwks_names_the_unusable_key(rsa_jwk: dict[str, Any]) -> None:
    with pytest.raises(WeakKeyError, match=r"#1 \(kid 'weak'\): RSA modulus of 1024 bits"):
        load_jwks({"keys": [rsa_jwk, {**_small_rsa_jwk(), "kid": "weak"}]})


def test_jwks_structure_errors(rsa_jwk: dict[str, Any]) -> None:
    documents: list[dict[str, Any]] = [{"keys": []}, {"keys": "x"}, {"kty": "RSA"}]
    for document in documents:
        with pytest.raises(KeyMaterialError, match="non-empty 'keys'"):
            load_jwks(document)
    with pytest.raises(KeyMaterialError, match="JSON object"):
        load_jwks({"keys": ["not an object"]})
    unnamed = {k: v for k, v in rsa_jwk.items() if k != "kid"}
    with pytest.raises(KeyMaterialError, match="same key"):
        load_jwks({"keys": [unnamed, unnamed]})


def test_jwks_loads_every_key(rsa_jwk: dict[str, Any]) -> None:
    ec_jwk = public_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), kid="ec-1", alg="ES384")
    keystore = load_jwks({"keys": [rsa_jwk, ec_jwk]})
    assert keystore.aliases == ("rsa-1", "ec-1")
    assert {e.source_format for e in keystore.entries} == {"jwks"}


def _wycheproof_cases() -> list[tuple[str, str, dict[str, Any], bool]]:
    document = json.loads((VECTORS / "json_web_key_test.json").read_text())
    cases = []
    for group in document["testGroups"]:
        # A group's keyset is fine iff one of its tests is valid; every other group's defect is in
        # the keys themselves (weak, mislabelled, duplicated, mixed) and loading must refuse it.
        valid = any(test["result"] == "valid" for test in group["tests"])
        ids = ",".join(str(test["tcId"]) for test in group["tests"])
        for part in ("private", "public"):
            if part in group:
                cases.append((f"tc{ids}-{group['comment']}", part, group[part], valid))
    return cases


@pytest.mark.parametrize(("name", "part", "keyset", "valid"), _wycheproof_cases())
def test_wycheproof_json_web_key_sets(name: str, part: str, keyset: dict[str, Any], valid: bool) -> None:
    if valid:
        assert load_jwks(keyset).entries
    else:
        with pytest.raises(KeyMaterialError):
            load_jwks(keyset)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
_JWK_NAMES = st.sampled_from(["kty", "crv", "x", "y", "n", "e", "d", "k", "alg", "use", "key_ops", "kid", "x5c", "p"])


@settings(max_examples=300, deadline=None)
@given(
    jwk=st.dictionaries(_JWK_NAMES, _JSON_VALUES | st.sampled_from(["RSA", "EC", "OKP", "oct", "P-256", "AQAB", "sig"]))
)
def test_arbitrary_jwks_raise_only_key_material_errors(jwk: dict[str, Any]) -> None:
    try:
        entry = key_from_jwk(jwk)
    except KeyMaterialError:
        return
    assert entry.kind in ("public_key", "private_key", "secret_key")


@pytest.mark.parametrize("action", WARNING_FILTERS)
def test_an_x5c_certificate_forcegate_refuses(ec_entry: KeyEntry, action: Literal["error", "ignore"]) -> None:
    assert ec_entry.private_key is not None
    assert ec_entry.public_key is not None
    for der, message in [
        (odd_certificate_der(ec_entry.private_key, serial=-1), "JWK x5c: certificate serial number is not positive"),
        (
            odd_certificate_der(ec_entry.private_key, issuer_cn=b"\x0c\x06\xff\xfe\xfd\xfc\xfb\xfa"),
            "JWK x5c: certificate issuer name does not parse",
        ),
    ]:
        jwk = {**public_jwk(ec_entry.public_key), "x5c": [base64.b64encode(der).decode()]}
        with warnings_filter(action), pytest.raises(KeyMaterialError, match=message):
            key_from_jwk(jwk)
