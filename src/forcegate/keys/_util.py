"""Helpers shared by the loaders: certificate parsing and vetting, alias naming, chain ordering."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from forcegate.errors import KeyMaterialError
from forcegate.keys import _der

__all__ = [
    "build_chain",
    "certificate_name",
    "certificate_parsing",
    "common_name",
    "issued_by",
    "load_certificate",
    "unique_alias",
    "vet_certificate",
]

# cryptography's CryptographyDeprecationWarning for a serial number <= 0 (a piece of its text).
_NOT_POSITIVE_WARNING = "serial number which wasn't positive"
_NOT_POSITIVE = "certificate serial number is not positive (RFC 5280 §4.1.2.2 requires a positive integer)"


@contextmanager
def certificate_parsing() -> Iterator[None]:
    """Around a cryptography call that parses certificates (``load_*_x509_certificate``, ``load_pkcs12``).

    cryptography warns about a serial number <= 0 while parsing and then returns the certificate;
    where warnings are errors the warning is raised instead, with no certificate to look at. That
    case becomes the :class:`KeyMaterialError` :func:`vet_certificate` raises otherwise, so the
    verdict does not depend on the warnings filter. (Not ``warnings.catch_warnings``: it swaps
    process-wide state, which other threads of a server would see.)
    """
    try:
        yield
    except CryptographyDeprecationWarning as warning:
        if _NOT_POSITIVE_WARNING in str(warning):
            raise KeyMaterialError(_NOT_POSITIVE) from None
        raise


def load_certificate(data: bytes, *, pem: bool = False) -> x509.Certificate:
    """One DER (or ``pem``) certificate, vetted by :func:`vet_certificate`.

    Bytes that are not a certificate raise ``ValueError`` or ``x509.InvalidVersion`` as cryptography
    does, so that a caller can try another format; a certificate forcegate refuses raises
    :class:`KeyMaterialError`.
    """
    with certificate_parsing():
        certificate = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    return vet_certificate(certificate)


def vet_certificate(certificate: x509.Certificate) -> x509.Certificate:
    """``certificate``, unless it is unfit as trust material: then :class:`KeyMaterialError`.

    Refused: a serial number <= 0 (RFC 5280 §4.1.2.2; cryptography only warns, and says a future
    release will refuse it), and a subject or issuer name that does not parse. cryptography reads
    names lazily, so without this check such a certificate would load and then fail with a
    ``ValueError`` or ``TypeError`` wherever its name is first read (alias, chain, description,
    the registry's record).
    """
    if _serial_sign(certificate) <= 0:
        raise KeyMaterialError(_NOT_POSITIVE)
    certificate_name(certificate, "subject")
    certificate_name(certificate, "issuer")
    return certificate


def _serial_sign(certificate: x509.Certificate) -> int:
    # Read from the DER, not ``serial_number``: that getter warns again for a serial <= 0.
    try:
        fields = _der.read_single(certificate.tbs_certificate_bytes, _der.SEQUENCE).value
        serial, end = _der.read_tlv(fields)
        if serial.tag == 0xA0:  # [0] EXPLICIT version, present in every v2/v3 certificate
            serial, _ = _der.read_tlv(fields, end)
    except _der.DerError:
        raise KeyMaterialError("certificate has an unreadable TBSCertificate") from None
    if serial.tag != _der.INTEGER:
        raise KeyMaterialError("certificate has no serial number where RFC 5280 puts it")
    return int.from_bytes(serial.value, "big", signed=True)


def certificate_name(certificate: x509.Certificate, which: Literal["subject", "issuer"]) -> x509.Name:
    """The certificate's subject or issuer name; :class:`KeyMaterialError` when it does not parse."""
    try:
        return certificate.subject if which == "subject" else certificate.issuer
    except TypeError:  # cryptography allows BIT STRING values only under x500UniqueIdentifier
        raise KeyMaterialError(
            f"certificate {which} name has a BIT STRING attribute that is not an x500UniqueIdentifier"
        ) from None
    except ValueError:
        raise KeyMaterialError(
            f"certificate {which} name does not parse: an attribute value has a type names do not use, "
            "or is not valid for its string type (such as a UTF8String that is not UTF-8)"
        ) from None


def unique_alias(alias: str, used: set[str]) -> str:
    """``alias``, or ``alias-2``, ``alias-3`` … so that aliases stay unique ignoring case."""
    candidate, n = alias, 1
    while candidate.casefold() in used:
        n += 1
        candidate = f"{alias}-{n}"
    used.add(candidate.casefold())
    return candidate


def common_name(certificate: x509.Certificate) -> str | None:
    """The subject's first CN, if it has one."""
    for attribute in certificate_name(certificate, "subject").get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Whether ``parent`` signed ``child`` (names match and the signature verifies)."""
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def build_chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """Leaf first, then each issuer found in ``pool``, until a self-signed one or a missing link."""
    chain = [leaf]
    while certificate_name(chain[-1], "issuer") != certificate_name(chain[-1], "subject"):
        issuer = next((c for c in pool if c not in chain and issued_by(chain[-1], c)), None)
        if issuer is None:
            break
        chain.append(issuer)
    return tuple(chain)
