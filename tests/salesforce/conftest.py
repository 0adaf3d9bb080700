"""A certificate for the real clients' tests (the emulated org's fixtures are in tests/devtools)."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import self_signed


@pytest.fixture(scope="session")
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    # Shaped like a Certificate and Key Management self-signed certificate: one year of validity.
    return self_signed(rsa_key, cn="Forcegate_Signing", start=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
