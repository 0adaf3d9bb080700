"""Helpers for the keys tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from forcegate.keys import KeyEntry, PrivateKey

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PASSWORD = b"changeit"

KeytoolRunner = Callable[..., str]


def make_certificate(
    key: PrivateKey,
    *,
    cn: str,
    issuer_key: PrivateKey | None = None,
    issuer_name: x509.Name | None = None,
    ca: bool = False,
) -> x509.Certificate:
    """A small certificate for ``key``, self-signed unless an issuer is given."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer = issuer_key or key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, algorithm)
    )


def entry_for(key: PrivateKey, *, cn: str) -> KeyEntry:
    certificate = make_certificate(key, cn=cn)
    return KeyEntry(
        alias=cn,
        kind="private_key",
        source_format="pem",
        certificate=certificate,
        chain=(certificate,),
        private_key=key,
        public_key=key.public_key(),
    )


@dataclass(frozen=True)
class Chain:
    root_key: PrivateKey
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf_key: PrivateKey
    leaf: x509.Certificate


@dataclass(frozen=True)
class KeytoolStores:
    jks: Path
    pkcs12: Path
    trusted_cert_pem: Path
