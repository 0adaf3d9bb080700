"""Registry changes made on an operator's behalf, each in the audit log with the operator's name.

The console calls these rather than :class:`~forcegate.registry.RegistryService` directly: each
method makes the one registry call (every rule stays there), then writes one audit event naming who
acted (``Actor.credential``: ``operator:NAME``) and what changed; a refused change is audited as
denied, with the refusal's code, and raised as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from cryptography import x509

from forcegate.clock import Clock, SystemClock
from forcegate.errors import ForcegateError
from forcegate.keys import load_keystore
from forcegate.registry.inputs import CertificateStateInput, OrgInput, SecretInput
from forcegate.registry.results import Actor, AddedCertificates, audit_event, certificates_in
from forcegate.registry.service import RegistryService
from forcegate.stores.models import AppSecret, CertificateRecord, Org
from forcegate.stores.protocols import AuditLog

__all__ = ["AuditedChanges"]


class AuditedChanges:
    def __init__(self, registry: RegistryService, audit: AuditLog, *, clock: Clock | None = None) -> None:
        self._registry = registry
        self._audit = audit
        self._clock = clock if clock is not None else SystemClock()

    async def _write(self, actor: Actor, result: str, code: str, detail: str, org_id: str | None) -> None:
        await self._audit.append([audit_event(self._clock, actor, result, code, detail, org_id)])

    @contextlib.asynccontextmanager
    async def _refusals(self, actor: Actor, what: str, org_id: str | None) -> AsyncIterator[None]:
        try:
            yield
        except ForcegateError as exc:
            await self._write(actor, "denied", exc.code, f"{what} refused: {exc.reason}", org_id)
            raise

    async def add_org(self, given: OrgInput, *, actor: Actor) -> Org:
        async with self._refusals(actor, "adding the org", None):
            org = await self._registry.add_org(given)
        await self._write(
            actor, "allowed", "org_added", f"org {org.org_id} ({org.name or 'no name'}) added", org.org_id
        )
        return org

    async def set_enabled(self, org_id: str, enabled: bool, *, actor: Actor) -> Org:
        async with self._refusals(actor, "enabling" if enabled else "disabling", None):
            org = await self._registry.set_enabled(org_id, enabled)
        state = "enabled" if enabled else "disabled"
        await self._write(actor, "allowed", f"org_{state}", f"org {org.org_id} {state}", org.org_id)
        return org

    async def add_certificate_file(
        self, org_id: str, data: bytes, *, filename: str, password: bytes | None, label: str, shared: bool, actor: Actor
    ) -> AddedCertificates:
        """Trust the certificate(s) of an uploaded PEM, DER, JKS or PKCS#12 file (as ``forcegate certs add``)."""
        async with self._refusals(actor, f"adding a certificate from {filename[:100]!r}", None):
            found: Sequence[tuple[str, x509.Certificate]] = certificates_in(
                load_keystore(data, password=password, filename=filename)
            )
            named = [(label or default, certificate) for default, certificate in found]
            added = await self._registry.add_certificates(org_id, named, shared=shared, actor=actor)
        for record in added.records:
            await self._write(
                actor,
                "allowed",
                "certificate_added",
                f"certificate {record.sha256_fingerprint} ({record.subject}) trusted for org {record.org_id}"
                + (" as shared" if record.shared else ""),
                record.org_id,
            )
        return added

    async def set_certificate_state(
        self, org_id: str, fingerprint: str, state: str, *, actor: Actor
    ) -> tuple[CertificateRecord, int]:
        async with self._refusals(actor, f"setting certificate {fingerprint[:64]} {state}", None):
            record, active = await self._registry.set_certificate_state(
                org_id, fingerprint, CertificateStateInput(state=state)
            )
        verb = "retired" if record.state == "retired" else "activated"
        detail = f"certificate {record.sha256_fingerprint} of org {record.org_id} {verb} ({active} active left)"
        await self._write(actor, "allowed", f"certificate_{verb}", detail, record.org_id)
        return record, active

    async def rotate_secret(self, consumer_key: str, secret: str, *, keep_previous: int, actor: Actor) -> AppSecret:
        async with self._refusals(actor, f"rotating the consumer secret of {consumer_key[:100]}", None):
            added, _ = await self._registry.rotate_secret(
                consumer_key, SecretInput(secret=secret, keep_previous=keep_previous)
            )
        detail = f"consumer secret #{added.id} of app {consumer_key} made current (keeping {keep_previous} previous)"
        await self._write(actor, "allowed", "secret_rotated", detail, None)
        return added
