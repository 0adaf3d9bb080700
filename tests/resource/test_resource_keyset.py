"""Reading the service's JWKS: only ES256 P-256 keys with a kid are used, a broken set is refused whole."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from forcegate.core.access_token import es256_jwk, new_signing_key
from forcegate.errors import StoreUnavailable
from forcegate.keys import public_jwk
from forcegate.resource._keyset import MAX_KEYS, parse_jwks, same_keys

URL = "https://auth.example.com/.well-known/jwks.json"


def jwk() -> dict[str, str]:
    key, kid = new_signing_key()
    return es256_jwk(key.public_key(), kid)


def test_the_services_keys_are_read_by_kid() -> None:
    first, second = jwk(), jwk()
    keys = parse_jwks({"keys": [first, second]}, url=URL)
    assert sorted(keys) == sorted([first["kid"], second["kid"]])
    assert all(isinstance(key.curve, ec.SECP256R1) for key in keys.values())


def test_keys_it_cannot_use_are_skipped(rsa_key: rsa.RSAPrivateKey) -> None:
    usable = jwk()
    p384 = public_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), kid="p384")
    unusable: list[dict[str, Any]] = [
        {**public_jwk(rsa_key.public_key(), kid="rsa"), "alg": "RS256"},
        p384,
        {**jwk(), "alg": "ES384"},
        {**jwk(), "use": "enc"},
        {key: value for key, value in jwk().items() if key != "kid"},
        {**jwk(), "kid": ""},
        {**jwk(), "x": "AAAA"},  # malformed: skipped with a warning in the log
    ]
    assert list(parse_jwks({"keys": [*unusable, usable]}, url=URL)) == [usable["kid"]]


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ([], "not a JSON object"),
        ({"keys": "x"}, "not a JSON object"),
        ({"keys": ["x"]}, "key #0 is not a JSON object"),
        ({"keys": [jwk() for _ in range(MAX_KEYS + 1)]}, "more than"),
        ({"keys": []}, "no ES256"),
        ({"keys": [{**jwk(), "d": "AAAA"}]}, "private key material"),
    ],
)
def test_a_set_that_cannot_be_trusted_is_refused_whole(document: object, why: str) -> None:
    with pytest.raises(StoreUnavailable, match=why):
        parse_jwks(document, url=URL)


def test_a_kid_given_twice_is_refused() -> None:
    first = jwk()
    with pytest.raises(StoreUnavailable, match="twice"):
        parse_jwks({"keys": [first, {**jwk(), "kid": first["kid"]}]}, url=URL)


def test_same_keys_compares_kids_and_points() -> None:
    first, second = jwk(), jwk()
    a = parse_jwks({"keys": [first, second]}, url=URL)
    assert same_keys(a, parse_jwks({"keys": [second, first]}, url=URL))
    assert not same_keys(a, parse_jwks({"keys": [first]}, url=URL))
    assert not same_keys(a, parse_jwks({"keys": [first, {**jwk(), "kid": second["kid"]}]}, url=URL))
