from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from forcegate.errors import ConfigurationError
from forcegate.keys import KeyEntry, generate_certificate, self_signed_certificate

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_generated_certificate_is_like_salesforce_self_signed(rsa_entry: KeyEntry) -> None:
    certificate = rsa_entry.certificate
    assert certificate is not None
    assert rsa_entry.kind == "private_key"
    assert rsa_entry.alias == "forcegate_test"
    assert certificate.subject == certificate.issuer
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "forcegate_test"
    key = certificate.public_key()
    assert isinstance(key, RSAPublicKey)
    assert key.key_size == 2048
    assert key.public_numbers().e == 65537
    assert certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert certificate.not_valid_before_utc == NOW
    assert certificate.not_valid_after_utc == NOW + timedelta(days=365)
    assert certificate.serial_number > 0
    assert certificate.serial_number.bit_length() >= 64
    assert rsa_entry.chain == (certificate,)


def test_generated_certificate_verifies_itself(rsa_entry: KeyEntry) -> None:
    certificate = rsa_entry.certificate
    assert certificate is not None
    certificate.verify_directly_issued_by(certificate)
    key = rsa_entry.private_key
    assert isinstance(key, RSAPrivateKey)
    signature = key.sign(b"payload", padding.PKCS1v15(), hashes.SHA256())
    public = certificate.public_key()
    assert isinstance(public, RSAPublicKey)
    public.verify(signature, b"payload", padding.PKCS1v15(), hashes.SHA256())


def test_generated_certificate_extensions(rsa_entry: KeyEntry) -> None:
    certificate = rsa_entry.certificate
    assert certificate is not None
    basic = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca is False
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign


def test_salesforce_subject_with_org_id() -> None:
    entry = generate_certificate(cn="My_Cert", now=NOW, org_id="00D5g000001abcd", alias="signer")
    assert entry.certificate is not None
    assert entry.alias == "signer"
    assert entry.certificate.subject.rfc4514_string() == (
        "C=US,ST=CA,L=San Francisco,O=Salesforce.com,OU=00D5g000001abcd,CN=My_Cert"
    )


def test_serials_are_random() -> None:
    first = generate_certificate(cn="a", now=NOW)
    second = generate_certificate(cn="a", now=NOW)
    assert first.certificate is not None
    assert second.certificate is not None
    assert first.certificate.serial_number != second.certificate.serial_number


@pytest.mark.parametrize("key_size", [1024, 2047, 8192])
def test_key_sizes_salesforce_does_not_offer_are_refused(key_size: int) -> None:
    with pytest.raises(ConfigurationError, match="key size"):
        generate_certificate(cn="x", key_size=key_size)


def test_non_positive_validity_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="validity"):
        generate_certificate(cn="x", days=0)


def test_empty_common_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="common name"):
        generate_certificate(cn="")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="timezone"):
        generate_certificate(cn="x", now=datetime(2025, 1, 1))


def test_self_signed_certificate_for_an_existing_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    certificate = self_signed_certificate(key, cn="existing", days=10, now=start, org_id="00D5g000004ABCDEA4")
    public_key = certificate.public_key()
    assert isinstance(public_key, RSAPublicKey)
    assert public_key.public_numbers() == key.public_key().public_numbers()
    assert certificate.not_valid_before_utc == start
    assert certificate.not_valid_after_utc == start + timedelta(days=10)
    assert "OU=00D5g000004ABCDEA4" in certificate.subject.rfc4514_string()
    certificate.verify_directly_issued_by(certificate)
    with pytest.raises(ConfigurationError):
        self_signed_certificate(key, cn="", days=10)
    with pytest.raises(ConfigurationError):
        self_signed_certificate(key, cn="x", days=0)
    with pytest.raises(ConfigurationError):
        self_signed_certificate(key, cn="x", now=datetime(2026, 1, 1))  # naive
