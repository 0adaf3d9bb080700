"""Shared key material for the emulated org. RSA keys are slow to generate: one per session."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from forcegate.devtools.apex_jwt import CertificateAndKeyManagement
from helpers import self_signed

CERT_NAME = "Forcegate_Signing"

CertificateFactory = Callable[[CertificateIssuerPrivateKeyTypes, str], x509.Certificate]


def _self_signed(private_key: CertificateIssuerPrivateKeyTypes, common_name: str) -> x509.Certificate:
    # Shaped like a Certificate and Key Management self-signed certificate: one year of validity.
    return self_signed(private_key, cn=common_name, start=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))


@pytest.fixture(scope="session")
def cert_name() -> str:
    """The Unique Name under which :func:`certificates` holds :func:`certificate`."""
    return CERT_NAME


@pytest.fixture(scope="session")
def make_certificate() -> CertificateFactory:
    """Build a self-signed certificate for any key."""
    return _self_signed


@pytest.fixture(scope="session")
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return _self_signed(rsa_key, CERT_NAME)


@pytest.fixture
def certificates(rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> CertificateAndKeyManagement:
    """A fresh org store holding one certificate, named :data:`CERT_NAME`."""
    store = CertificateAndKeyManagement()
    store.add(CERT_NAME, private_key=rsa_key, certificate=certificate)
    return store
