"""Fixtures for the assertion tests (test_assertion*.py): an org trusting one certificate, a verifier,
and ``mint``, which signs an assertion the way Apex does.

The other modules here that need a ``clock``, ``verifier``, ``org`` or ``certificate`` define their own,
which take precedence over these.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from core.assertion_support import AUD, CERT, CONSUMER_KEY, NOW, ORG, USERNAME, FakeDirectory, MemoryReplay
from forcegate.clock import FixedClock
from forcegate.core.assertion import AssertionVerifier
from forcegate.core.trust import OrgTrust
from forcegate.core.trusted_key import TrustedKey
from forcegate.devtools import AuthJWS, AuthJWT, CertificateAndKeyManagement
from helpers import self_signed


@pytest.fixture(scope="module")
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(rsa_key, cn=CERT, start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


@pytest.fixture
def org_certs(rsa_key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> CertificateAndKeyManagement:
    certs = CertificateAndKeyManagement()
    certs.add(CERT, private_key=rsa_key, certificate=certificate)
    return certs


@pytest.fixture
def org(certificate: x509.Certificate) -> OrgTrust:
    return OrgTrust(
        org_id=ORG,
        enabled=True,
        issuers=frozenset({ORG, CONSUMER_KEY}),
        subjects=None,
        scopes=frozenset({"api", "refresh"}),
        keys=(TrustedKey.from_certificate(certificate, label="org cert"),),
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def directory(org: OrgTrust) -> FakeDirectory:
    return FakeDirectory([org], [CONSUMER_KEY])


@pytest.fixture
def verifier(directory: FakeDirectory, clock: FixedClock) -> AssertionVerifier:
    return AssertionVerifier(directory=directory, audiences=[AUD], clock=clock)


@pytest.fixture
def replay() -> MemoryReplay:
    return MemoryReplay()


@pytest.fixture
def mint(org_certs: CertificateAndKeyManagement, clock: FixedClock) -> Any:
    """Sign an assertion exactly as Apex's Auth.JWT + Auth.JWS would."""

    def mint(
        *,
        iss: str | None = ORG,
        sub: str | None = USERNAME,
        aud: str | None = AUD,
        validity: int = 300,
        skew: int = 0,
        **claims: object,
    ) -> str:
        jwt = AuthJWT(iss=iss, sub=sub, aud=aud, validity_length=validity, nbf_clock_skew=skew)
        jwt.set_additional_claims(claims)
        return AuthJWS(jwt, CERT, certificates=org_certs, clock=clock).compact_serialization()

    return mint
