"""Helpers for the keys tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
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


def odd_certificate_der(
    key: PrivateKey,
    *,
    serial: int = 1,
    subject_cn: bytes = b"\x0c\x07subject",
    issuer_cn: bytes = b"\x0c\x06issuer",
) -> bytes:
    """DER of a certificate for ``key`` with its serial number and CN values rewritten in place.

    cryptography's builder refuses what the loaders must refuse (a serial <= 0, a CN that is not
    text), so a sound certificate (serial 1, CN ``subject`` issued by CN ``issuer``) is edited byte
    for byte: ``serial`` is one signed byte, each CN is a whole TLV of the original's length. The
    signature no longer verifies; loading does not check it.
    """
    assert len(subject_cn) == 9
    assert len(issuer_cn) == 8
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "subject")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer")])
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    der = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, algorithm)
        .public_bytes(Encoding.DER)
    )
    version_and_serial = b"\xa0\x03\x02\x01\x02\x02\x01\x01"  # [0] v3, then INTEGER 1
    for old, new in (
        (version_and_serial, version_and_serial[:-1] + serial.to_bytes(1, "big", signed=True)),
        (b"\x0c\x07subject", subject_cn),
        (b"\x0c\x06issuer", issuer_cn),
    ):
        assert der.count(old) == 1
        der = der.replace(old, new)
    return der


def as_pem(der: bytes) -> bytes:
    """A DER certificate as PEM text."""
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode("ascii")


def unvetted_certificate(der: bytes) -> x509.Certificate:
    """``der`` loaded by cryptography alone, its warning for a serial <= 0 silenced, nothing vetted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate(der)


#: The warnings filters a refusal must not depend on: pytest's ``error``, and one that hides the warning.
WARNING_FILTERS = ("error", "ignore")


@contextmanager
def warnings_filter(action: Literal["error", "ignore"]) -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter(action)
        yield


def odd_name_der(key: PrivateKey, which: Literal["subject", "issuer"], cn: bytes) -> bytes:
    """:func:`odd_certificate_der` with the CN TLV of the subject or the issuer replaced by ``cn``."""
    return odd_certificate_der(key, subject_cn=cn) if which == "subject" else odd_certificate_der(key, issuer_cn=cn)
