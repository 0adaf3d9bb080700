"""A JSON-able summary of an entry for the CLI, the admin API and logs. Never any secret."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.dsa import DSAPublicKey
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import SignatureAlgorithmOID

from forcegate.core.trusted_key import x5t_s256
from forcegate.keys._util import issued_by, vet_certificate
from forcegate.keys.jwk import rfc7638_thumbprint
from forcegate.keys.model import KeyEntry
from forcegate.keys.policy import EC_CURVES

__all__ = ["describe_entry", "sha256_fingerprint"]


def sha256_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate in lowercase hex, 64 digits: the one form forcegate shows (the
    registry stores and prints it so; commands that take a fingerprint also accept keytool's ``AB:CD:…``)."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_facts(key: object) -> tuple[str, int | str | None]:
    if isinstance(key, RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, EllipticCurvePublicKey):
        return "EC", EC_CURVES.get(key.curve.name, key.curve.name)
    if isinstance(key, Ed25519PublicKey):
        return "OKP", "Ed25519"
    if isinstance(key, Ed448PublicKey):
        return "OKP", "Ed448"
    if isinstance(key, DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, None


def _certificate_public_key(certificate: x509.Certificate) -> object:
    try:
        return certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None


def describe_entry(entry: KeyEntry, *, now: datetime | None = None) -> dict[str, Any]:
    """What an operator needs to know about ``entry``, as plain JSON types.

    Always: ``alias``, ``kind``, ``source_format``, ``key_type`` (RSA, EC, OKP, oct), ``key_size``
    (bits; the curve name for EC/OKP), and ``kid``/``alg``/``jwk_thumbprint`` when known. With a
    certificate also ``subject``, ``issuer``, ``serial`` (hex), ``not_before``/``not_after``
    (ISO 8601 UTC), ``days_to_expiry`` (negative once expired), ``expired``, ``self_signed``,
    ``sha256_fingerprint``, ``x5t#S256`` and ``chain_length``. Private keys and secrets are
    reduced to the fact that they are present. A certificate the loaders would refuse (a serial
    number <= 0, a name that does not parse) raises :class:`~forcegate.errors.KeyMaterialError`.
    """
    moment = now or datetime.now(UTC)
    info: dict[str, Any] = {"alias": entry.alias, "kind": entry.kind, "source_format": entry.source_format}
    if entry.secret is not None:
        info["key_type"], info["key_size"] = "oct", len(entry.secret) * 8
    else:
        key: object = entry.public_key
        if key is None and entry.certificate is not None:
            key = _certificate_public_key(entry.certificate)
        info["key_type"], info["key_size"] = _key_facts(key)
        if entry.public_key is not None:
            info["jwk_thumbprint"] = rfc7638_thumbprint(entry.public_key)
    info["has_private_key"] = entry.private_key is not None
    if entry.kid is not None:
        info["kid"] = entry.kid
    if entry.jwk_alg is not None:
        info["alg"] = entry.jwk_alg
    certificate = entry.certificate
    if certificate is not None:
        # Loaded entries are vetted already; an entry built by hand is refused the same way rather
        # than failing halfway through with whatever cryptography raises for an unreadable name.
        vet_certificate(certificate)
        not_after = certificate.not_valid_after_utc
        remaining = not_after - moment
        info.update(
            {
                "subject": certificate.subject.rfc4514_string(),
                "issuer": certificate.issuer.rfc4514_string(),
                "serial": format(certificate.serial_number, "x"),
                "not_before": _iso(certificate.not_valid_before_utc),
                "not_after": _iso(not_after),
                # floor: a certificate that expired an hour ago is at -1 days, not 0
                "days_to_expiry": remaining.days,
                "expired": moment > not_after,
                "self_signed": certificate.subject == certificate.issuer and issued_by(certificate, certificate),
                "signature_algorithm": _signature_algorithm(certificate),
                "sha256_fingerprint": sha256_fingerprint(certificate),
                "x5t#S256": x5t_s256(certificate),
                "chain_length": len(entry.chain) or 1,
            }
        )
    return info


_SIGNATURE_NAMES = {
    value: name
    for name, value in vars(SignatureAlgorithmOID).items()
    if isinstance(value, x509.ObjectIdentifier) and not name.startswith("_")
}


def _signature_algorithm(certificate: x509.Certificate) -> str:
    oid = certificate.signature_algorithm_oid
    return _SIGNATURE_NAMES.get(oid, oid.dotted_string)
