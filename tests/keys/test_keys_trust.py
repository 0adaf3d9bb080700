from __future__ import annotations

import pytest

from forcegate.core._b64 import b64url_encode
from forcegate.core.trusted_key import x5t_s256
from forcegate.errors import WeakKeyError
from forcegate.keys import KeyEntry, Keystore, key_from_jwk, load_jwks, public_jwk, trusted_keys
from forcegate.keys.model import same_public_key
from keys.keys_support import Chain


def test_certificates_and_private_key_entries(rsa_entry: KeyEntry, second_rsa_entry: KeyEntry) -> None:
    assert rsa_entry.certificate is not None
    assert second_rsa_entry.certificate is not None
    partner = KeyEntry(
        alias="partner", kind="certificate", source_format="pem", certificate=second_rsa_entry.certificate,
        public_key=second_rsa_entry.public_key,
    )  # fmt: skip
    keys = trusted_keys(Keystore(entries=(rsa_entry, partner)))
    assert [k.label for k in keys] == ["forcegate_test", "partner"]
    assert keys[0].x5t_s256 == x5t_s256(rsa_entry.certificate)
    assert keys[0].not_after == rsa_entry.certificate.not_valid_after_utc.timestamp()
    assert same_public_key(keys[1].key, second_rsa_entry.public_key)
    assert keys[1].algorithms is None


def test_jwks_keys_keep_kid_and_alg(ec_entry: KeyEntry) -> None:
    assert ec_entry.public_key is not None
    keystore = load_jwks({"keys": [public_jwk(ec_entry.public_key, kid="ec-1", alg="ES256")]})
    (key,) = trusted_keys(keystore)
    assert key.kid == "ec-1"
    assert key.algorithms == frozenset({"ES256"})
    assert key.x5t_s256 is None
    assert same_public_key(key.key, ec_entry.public_key)


def test_jwk_with_certificate_keeps_kid_alg_and_x5t(rsa_entry: KeyEntry) -> None:
    assert rsa_entry.public_key is not None
    assert rsa_entry.certificate is not None
    jwk = public_jwk(rsa_entry.public_key, kid="rs", alg="RS256", certificate=rsa_entry.certificate)
    (key,) = trusted_keys(Keystore(entries=(key_from_jwk(jwk),)))
    assert (key.kid, key.algorithms, key.x5t_s256) == ("rs", frozenset({"RS256"}), x5t_s256(rsa_entry.certificate))


def test_hmac_secret(ed25519_entry: KeyEntry) -> None:
    secret = bytes(range(32))
    entry = key_from_jwk({"kty": "oct", "k": b64url_encode(secret), "kid": "h", "alg": "HS256"})
    (key,) = trusted_keys(Keystore(entries=(entry,)))
    assert key.key == secret
    assert key.algorithms == frozenset({"HS256"})


def test_weak_entries_raise_with_their_alias(chain: Chain) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 - under test
    entry = KeyEntry(alias="legacy", kind="public_key", source_format="pem", public_key=weak)
    with pytest.raises(WeakKeyError, match="entry 'legacy': RSA modulus of 1024 bits"):
        trusted_keys(Keystore(entries=(entry,)))
    short = KeyEntry(alias="short", kind="secret_key", source_format="jwk", secret=bytes(16))
    with pytest.raises(WeakKeyError, match="entry 'short'"):
        trusted_keys(Keystore(entries=(short,)))
