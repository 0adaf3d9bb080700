"""The registry's trust policy: what may become trusted, whoever asks (CLI, admin API, console).

* **Consumer secrets**: not empty, no surrounding whitespace, no control characters, at least
  :data:`MIN_SECRET_LENGTH` characters. Salesforce's formats pass: older Connected Apps have a
  19-digit decimal secret, newer ones 64 hexadecimal characters.
* **Certificates**: a key type forcegate verifies with, strong enough
  (:func:`forcegate.keys.check_key_strength`: RSA >= 2048 bits with e = 65537 and no ROCA fingerprint,
  EC on P-256/P-384/P-521, Ed25519), not expired, and usable with at least one of the org's
  algorithms. A certificate that is not valid yet may be registered (it verifies nothing before its
  ``notBefore``, minus the leeway; the verifier sees to that); one that expires soon is registered
  with a warning.
* **Sharing** (in :mod:`forcegate.registry.service`, atomically in the store): a certificate already
  trusted for another org is refused unless the caller says it is shared on purpose.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509

from forcegate.core.algorithms import compatible_algorithms
from forcegate.errors import CertificateExpired, KeyAlgorithmMismatch, KeyMaterialError, WeakSecret
from forcegate.keys.model import certificate_public_key
from forcegate.keys.policy import check_key_strength

__all__ = [
    "EXPIRY_WARNING",
    "MIN_SECRET_LENGTH",
    "CertificateCheck",
    "check_certificate",
    "check_consumer_secret",
]

MIN_SECRET_LENGTH = 16
#: A certificate expiring sooner than this is registered with a warning to add its successor.
EXPIRY_WARNING = timedelta(days=30)


def check_consumer_secret(secret: str) -> str:
    """Refuse a consumer secret no Salesforce Connected App would have (and that would be guessable)."""
    if not secret:
        raise WeakSecret("the consumer secret is empty")
    if secret != secret.strip():
        raise WeakSecret("the consumer secret starts or ends with whitespace (a copy-and-paste slip?)")
    if not secret.isprintable():
        raise WeakSecret("the consumer secret contains control characters")
    if len(secret) < MIN_SECRET_LENGTH:
        raise WeakSecret(
            f"the consumer secret has {len(secret)} characters; at least {MIN_SECRET_LENGTH} "
            "(Salesforce's are 19 digits or 64 hexadecimal characters)"
        )
    return secret


@dataclass(frozen=True, slots=True)
class CertificateCheck:
    """A certificate the policy accepts, its SHA-256 fingerprint, and what the operator should know."""

    certificate: x509.Certificate
    fingerprint: str
    warnings: tuple[str, ...]


def check_certificate(
    certificate: x509.Certificate, *, fingerprint: str, algorithms: Collection[str], now: datetime | None = None
) -> CertificateCheck:
    """Apply the certificate policy for an org allowing ``algorithms``; raise, or return the warnings."""
    moment = now if now is not None else datetime.now(UTC)
    public_key = certificate_public_key(certificate)
    if public_key is None:
        raise KeyMaterialError(f"certificate {fingerprint}: unsupported key type (RSA, EC or Ed25519 expected)")
    check_key_strength(public_key)
    not_after = certificate.not_valid_after_utc
    if not_after < moment:
        raise CertificateExpired(
            f"certificate {fingerprint} expired on {not_after:%Y-%m-%dT%H:%M:%SZ}: it would verify nothing "
            "(create a new one in Setup > Certificate and Key Management)"
        )
    usable = compatible_algorithms(public_key) & set(algorithms)
    if not usable:
        raise KeyAlgorithmMismatch(
            f"certificate {fingerprint}: its key fits none of the org's algorithms {sorted(algorithms)} "
            f"(it fits {sorted(compatible_algorithms(public_key)) or 'none'}); change the org's algorithms first"
        )
    warnings: list[str] = []
    if certificate.not_valid_before_utc > moment:
        warnings.append(
            f"certificate {fingerprint} is not valid before {certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}: "
            "it verifies nothing until then"
        )
    remaining = not_after - moment
    if remaining < EXPIRY_WARNING:
        warnings.append(f"certificate {fingerprint} expires in {remaining.days} day(s): add its successor")
    return CertificateCheck(certificate, fingerprint, tuple(warnings))
