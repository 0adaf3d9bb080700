"""What the registry service answers, and who asked (for the audit log)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import Clock
from forcegate.errors import KeyMaterialError
from forcegate.keys import Keystore
from forcegate.stores.models import App, AppSecret, AuditEvent, CertificateRecord, Org, SigningKey

__all__ = ["Actor", "AddedCertificates", "AppDetails", "KeyRotation", "OrgDetails", "certificates_in"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks, for the audit log: the entry (``cli``, an admin API path) and the credential used."""

    entry: str = "cli"
    credential: str = "local"
    client: str | None = None


@dataclass(frozen=True, slots=True)
class AppDetails:
    """An app, its active secrets, and how many orgs it is bound to (``any_org`` apps reach any)."""

    app: App
    secrets: Sequence[AppSecret]
    bound_orgs: int = 0


@dataclass(frozen=True, slots=True)
class OrgDetails:
    """An org, its certificates, and the Canvas apps (consumer keys) bound to it."""

    org: Org
    certificates: Sequence[CertificateRecord]
    apps: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class AddedCertificates:
    """What :meth:`RegistryService.add_certificates` registered, and what the operator should know."""

    records: Sequence[CertificateRecord]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """A signing-key change: the key concerned, the keys before it (newest first), and from when
    tokens signed by earlier keys can no longer be live (epoch seconds; None: no earlier key)."""

    kid: str
    earlier: Sequence[SigningKey]
    earlier_tokens_dead_after: float | None
    #: The longest access-token lifetime (the service's or an org's) and the leeway, which make it.
    longest_token_lifetime: int
    leeway: int


def certificates_in(keystore: Keystore, *, alias: str | None = None) -> list[tuple[str, x509.Certificate]]:
    """(default label, certificate) of each keystore entry holding one, each certificate once.

    The CA certificates of a key's chain are not included: Salesforce and forcegate trust the
    signing certificate itself. No certificate at all is :class:`KeyMaterialError`.
    """
    entries = [keystore.get(alias)] if alias else list(keystore.entries)
    found: dict[bytes, tuple[str, x509.Certificate]] = {}
    for entry in entries:
        if entry.certificate is not None:
            found.setdefault(entry.certificate.public_bytes(Encoding.DER), (entry.alias, entry.certificate))
    if not found:
        where = f"entry {alias!r}" if alias else "the keystore"
        raise KeyMaterialError(
            f"{where} holds no certificate: Salesforce and forcegate trust certificates, not bare keys "
            "(download the certificate from Setup > Certificate and Key Management)"
        )
    return list(found.values())


def audit_event(
    clock: Clock,
    actor: Actor,
    result: str,
    code: str,
    detail: str,
    org_id: str | None,
    subject: str | None = None,
    verified: bool = True,
) -> AuditEvent:
    """The audit event of a registry step, allowed or refused, by ``actor``."""
    return AuditEvent(
        at=clock.now(),
        endpoint=actor.entry,
        credential=actor.credential,
        result="allowed" if result == "allowed" else "denied",
        code=code,
        detail=detail[:500],
        org_id=org_id,
        subject=subject,
        client=actor.client,
        verified=verified,
    )
