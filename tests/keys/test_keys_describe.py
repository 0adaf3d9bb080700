from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from forcegate.core._b64 import b64url_encode
from forcegate.errors import KeyMaterialError
from forcegate.keys import KeyEntry, describe_entry, key_from_jwk, public_jwk, rfc7638_thumbprint
from keys.keys_support import NOW, Chain, odd_certificate_der, unvetted_certificate


def test_certificate_facts(rsa_entry: KeyEntry) -> None:
    assert rsa_entry.certificate is not None
    info = describe_entry(rsa_entry, now=NOW + timedelta(days=10, hours=1))
    assert info["alias"] == "forcegate_test"
    assert info["kind"] == "private_key"
    assert info["key_type"] == "RSA"
    assert info["key_size"] == 2048
    assert info["subject"] == "CN=forcegate_test"
    assert info["issuer"] == "CN=forcegate_test"
    assert info["serial"] == format(rsa_entry.certificate.serial_number, "x")
    assert info["not_before"] == "2025-03-01T12:00:00Z"
    assert info["not_after"] == "2026-03-01T12:00:00Z"
    assert info["days_to_expiry"] == 354
    assert info["expired"] is False
    assert info["self_signed"] is True
    assert info["signature_algorithm"] == "RSA_WITH_SHA256"
    assert info["has_private_key"] is True
    assert info["chain_length"] == 1
    assert rsa_entry.public_key is not None
    assert info["jwk_thumbprint"] == rfc7638_thumbprint(rsa_entry.public_key)
    # The registry's form (what `certs list` and the admin API show): lowercase hex SHA-256 of the DER.
    assert rsa_entry.certificate is not None
    assert info["sha256_fingerprint"] == hashlib.sha256(rsa_entry.certificate.public_bytes(Encoding.DER)).hexdigest()
    assert json.loads(json.dumps(info)) == info


def test_expired_certificate(rsa_entry: KeyEntry) -> None:
    info = describe_entry(rsa_entry, now=datetime(2026, 3, 1, 13, 0, tzinfo=UTC))
    assert info["expired"] is True
    assert info["days_to_expiry"] == -1


def test_chain_leaf_is_not_self_signed(chain: Chain) -> None:
    entry = KeyEntry(
        alias="leaf",
        kind="certificate",
        source_format="pem",
        certificate=chain.leaf,
        chain=(chain.leaf, chain.intermediate),
        public_key=chain.leaf_key.public_key(),
    )
    info = describe_entry(entry, now=NOW)
    assert info["self_signed"] is False
    assert info["issuer"] == "CN=Intermediate"
    assert (info["key_type"], info["key_size"]) == ("EC", "P-256")
    assert info["chain_length"] == 2


def test_jwk_entries(ed25519_entry: KeyEntry) -> None:
    assert ed25519_entry.public_key is not None
    entry = key_from_jwk(public_jwk(ed25519_entry.public_key, kid="ed", alg="EdDSA"))
    info = describe_entry(entry)
    assert (info["key_type"], info["key_size"], info["kid"], info["alg"]) == ("OKP", "Ed25519", "ed", "EdDSA")
    assert "subject" not in info


def test_private_material_never_appears(rsa_entry: KeyEntry) -> None:
    key = rsa_entry.private_key
    assert isinstance(key, RSAPrivateKey)
    text = json.dumps(describe_entry(rsa_entry))
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    body = "".join(pem.splitlines()[1:-1])
    numbers = key.private_numbers()
    d = b64url_encode(numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big"))
    for secret in (body[:40], body[-40:], d, str(numbers.d), format(numbers.d, "x"), format(numbers.p, "x")):
        assert secret not in text


def test_secret_bytes_never_appear() -> None:
    secret = bytes(range(100, 148))
    entry = key_from_jwk({"kty": "oct", "k": b64url_encode(secret), "kid": "hmac", "alg": "HS256"})
    info = describe_entry(entry)
    assert (info["key_type"], info["key_size"]) == ("oct", 384)
    text = json.dumps(info)
    assert b64url_encode(secret) not in text
    assert secret.hex() not in text
    assert "jwk_thumbprint" not in info  # a hash of the secret is not shown either
    assert "secret=" not in repr(entry)


def test_a_certificate_the_loaders_refuse_is_refused_here_too(ec_entry: KeyEntry) -> None:
    # An entry built by hand skips the loaders' vetting; describing it must not fail halfway with
    # whatever cryptography raises for the unreadable name (or warn about the serial).
    assert ec_entry.private_key is not None
    for der, message in [
        (odd_certificate_der(ec_entry.private_key, serial=0), "certificate serial number is not positive"),
        (
            odd_certificate_der(ec_entry.private_key, subject_cn=b"\x0c\x07\xff\xfe\xfd\xfc\xfb\xfa\xf9"),
            "certificate subject name does not parse",
        ),
    ]:
        certificate = unvetted_certificate(der)
        entry = KeyEntry(alias="odd", kind="certificate", source_format="der", certificate=certificate)
        with pytest.raises(KeyMaterialError, match=message):
            describe_entry(entry, now=NOW)
