"""Helpers shared by the loaders: alias naming and certificate chain ordering."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import NameOID

__all__ = ["build_chain", "common_name", "issued_by", "unique_alias"]


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
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
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
    while chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in pool if c not in chain and issued_by(chain[-1], c)), None)
        if issuer is None:
            break
        chain.append(issuer)
    return tuple(chain)
