"""Shared key material for the emulated org. RSA keys are slow to generate: one per session."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from forcegate.salesforce.apex_jwt import CertificateAndKeyManagement

CERT_NAME = "Forcegate_Signing"

CertificateFactory = Callable[[CertificateIssuerPrivateKeyTypes, str], x509.Certificate]


def _self_signed(private_key: CertificateIssuerPrivateKeyTypes, common_name: str) -> x509.Certificate:
    # Shaped like a Certificate and Key Management self-signed certificate: one year of validity.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .sign(private_key, hashes.SHA256())
    )


@pytest.fixture(scope="session")
def cert_name() -> str:
    """The Unique Name under which :func:`certificates` holds :func:`certificate`."""
    return CERT_NAME


@pytest.fixture(scope="session")
def make_certificate() -> CertificateFactory:
    """Build a self-signed certificate for any key."""
    return _self_signed


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return _self_signed(rsa_key, CERT_NAME)


@pytest.fixture
def certificates(rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> CertificateAndKeyManagement:
    """A fresh org store holding one certificate, named :data:`CERT_NAME`."""
    store = CertificateAndKeyManagement()
    store.add(CERT_NAME, private_key=rsa_key, certificate=certificate)
    return store
