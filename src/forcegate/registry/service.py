"""The trust registry as an application service: every read and write, and the policy, in one place.

The CLI, the admin API (and the console and enrollment after them) are adapters: they turn their
input into the models of :mod:`forcegate.registry.inputs`, call a method here, and render what comes
back. Nothing an adapter does can bypass a rule: each method checks its input (the models), applies
the trust policy (:mod:`forcegate.registry.policy`), then makes ONE store write — a refused request
changes nothing, and a write that needs a check against the rest of the registry (is this certificate
trusted for another org?) makes that check in the write's own transaction.

A store that refuses a value the models let through (its own integrity checks) is reported as
:class:`~forcegate.errors.InvalidInput`, so every entry answers bad input the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from forcegate.clock import Clock, SystemClock
from forcegate.core.access_token import new_signing_key
from forcegate.core.ids import ORG_PREFIX, validate
from forcegate.errors import (
    AlreadyExists,
    ConfigurationError,
    EnrollmentStateConflict,
    InvalidInput,
    KeyMaterialError,
    NotFound,
)
from forcegate.keys import check_key_strength, load_keystore, sha256_fingerprint
from forcegate.keys.model import certificate_public_key
from forcegate.registry.enrollment import Enrollments
from forcegate.registry.inputs import (
    AppChanges,
    AppInput,
    CertificateInput,
    CertificateStateInput,
    OrgChanges,
    OrgInput,
    SecretInput,
)
from forcegate.registry.policy import check_certificate
from forcegate.registry.results import (
    Actor,
    AddedCertificates,
    AppDetails,
    KeyRotation,
    OrgDetails,
    audit_event,
    certificates_in,
)
from forcegate.registry.rotation import Rotations
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.models import (
    AppSecret,
    AuditEvent,
    CertificateRecord,
    CertificateState,
    Org,
    SigningKey,
)
from forcegate.stores.values import POLICY_COLUMNS

__all__ = ["RegistryService"]

_PAGE = 1000


@contextlib.contextmanager
def _store_input() -> Iterator[None]:
    """A store's refusal of a value (its own integrity checks) is the caller's bad input."""
    try:
        yield
    except ConfigurationError as exc:
        raise InvalidInput(exc.reason) from None


class RegistryService:
    """Apps and consumer secrets, orgs, certificates, the service's signing keys and admin token.

    ``settings`` (optional) gives the service-wide token lifetime and leeway, used to say when a
    retired signing key's tokens are all expired.
    """

    def __init__(self, stores: Stores, *, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self._stores = stores
        self._trust = stores.trust
        self._settings = settings if settings is not None else Settings()
        self._clock = clock if clock is not None else SystemClock()
        #: Subscriber enrollment: its steps and its approval policy (:mod:`forcegate.registry.enrollment`).
        self.enrollments = Enrollments(stores, settings=self._settings, clock=self._clock)
        #: Certificate rotation from the org, chained on a trusted certificate (:mod:`forcegate.registry.rotation`).
        self.rotations = Rotations(stores, settings=self._settings, clock=self._clock)

    # --- apps -----------------------------------------------------------------------------------------

    async def list_apps(self) -> list[AppDetails]:
        apps = await self._trust.list_apps()
        counts = await self._trust.app_binding_counts()
        return [
            AppDetails(app, await self._trust.app_secrets(app.consumer_key), counts.get(app.consumer_key, 0))
            for app in apps
        ]

    async def get_app(self, consumer_key: str) -> AppDetails:
        app = await self._trust.get_app(consumer_key)
        if app is None:
            raise NotFound(f"no app with consumer key {consumer_key!r}")
        counts = await self._trust.app_binding_counts()
        return AppDetails(app, await self._trust.app_secrets(app.consumer_key), counts.get(app.consumer_key, 0))

    async def app_orgs(self, consumer_key: str, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        """The orgs an app's Canvas requests may open sessions for, by id (paged)."""
        await self.get_app(consumer_key)
        return await self._trust.app_orgs(consumer_key, limit=limit, after=after)

    async def apps_bound_to_several_orgs(self) -> dict[str, int]:
        """Apps whose one consumer secret vouches for more than one org, and for how many."""
        return {key: count for key, count in (await self._trust.app_binding_counts()).items() if count > 1}

    async def bind_app(self, org_id: str, consumer_key: str) -> None:
        """Let the app's Canvas requests open sessions for the org (binding twice is not an error)."""
        await self._trust.bind_app(_org_id(org_id), consumer_key)

    async def add_app(self, given: AppInput) -> AppDetails:
        with _store_input():
            app = await self._trust.add_app(
                consumer_key=given.consumer_key,
                name=given.name,
                secret=given.secret,
                any_org=given.any_org,
                canvas_name=given.canvas_name,
            )
        return AppDetails(app, await self._trust.app_secrets(app.consumer_key))

    async def update_app(self, consumer_key: str, changes: AppChanges) -> AppDetails:
        """Change what ``changes`` sets (today: the Canvas developer name); the app as it now is."""
        await self.get_app(consumer_key)
        if "canvas_name" in changes.given():
            with _store_input():
                await self._trust.set_canvas_name(consumer_key, changes.canvas_name)
        return await self.get_app(consumer_key)

    async def rotate_secret(self, consumer_key: str, given: SecretInput) -> tuple[AppSecret, AppDetails]:
        """Make ``given.secret`` current; the new secret and the app with its active secrets."""
        await self.get_app(consumer_key)
        with _store_input():
            added = await self._trust.add_app_secret(consumer_key, given.secret, keep_previous=given.keep_previous)
        return added, await self.get_app(consumer_key)

    async def remove_app(self, consumer_key: str) -> None:
        await self._trust.delete_app(consumer_key)

    async def import_app(
        self,
        given: AppInput,
        *,
        certificate: x509.Certificate | None = None,
        org_id: str | None = None,
        label: str = "",
        actor: Actor | None = None,
    ) -> tuple[AppDetails, AddedCertificates | None]:
        """Register an app from its Connected App metadata, bound to ``org_id`` (its Canvas requests may
        open sessions there) and trusting the metadata's certificate for it.

        Everything is checked before the first write (the org exists, the certificate passes the
        policy and is not trusted for it yet, the app is new); should the certificate's write still be
        refused (another writer got there first), the app is removed again: all or nothing.
        """
        if certificate is not None:
            public_key = certificate_public_key(certificate)
            if public_key is None:
                raise KeyMaterialError("the certificate's key type is not supported (RSA, EC or Ed25519 expected)")
            check_key_strength(public_key)
        trusted_for: Org | None = None
        if org_id is not None and certificate is not None:
            trusted_for = await self.org(org_id)
            check_certificate(
                certificate,
                fingerprint=sha256_fingerprint(certificate),
                algorithms=trusted_for.algorithms,
                now=_datetime(self._clock.now()),
            )
            holders = await self._trust.certificate_holders(sha256_fingerprint(certificate))
            if trusted_for.org_id in holders:
                raise AlreadyExists(
                    f"certificate {sha256_fingerprint(certificate)} is already registered for {trusted_for.org_id}"
                )
        elif org_id is not None:
            await self.org(org_id)
        if await self._trust.get_app(given.consumer_key) is not None:
            raise AlreadyExists(
                f"app {given.consumer_key} is already registered (rotate its secret with: forcegate apps rotate-secret)"
            )
        details = await self.add_app(given)
        if org_id is None:
            return details, None
        try:
            # The org was named: its users' Canvas requests come through this app.
            await self._trust.bind_app(org_id, given.consumer_key)
            added = None
            if trusted_for is not None and certificate is not None:
                added = await self.add_certificates(trusted_for.org_id, [(label, certificate)], actor=actor)
        except BaseException:
            await self._trust.delete_app(given.consumer_key)  # its bindings go with it
            raise
        return dataclasses.replace(details, bound_orgs=1), added

    # --- orgs -----------------------------------------------------------------------------------------

    async def list_orgs(self, *, limit: int = 100, after: str | None = None) -> Sequence[Org]:
        return await self._trust.list_orgs(limit=limit, after=after)

    async def all_orgs(self) -> AsyncIterator[Org]:
        """Every org, by id, a page at a time."""
        after: str | None = None
        # Until an empty page: a backend may cap the page size below what was asked for.
        while page := await self._trust.list_orgs(limit=_PAGE, after=after):
            for org in page:
                yield org
            after = page[-1].org_id

    async def org(self, org_id: str) -> Org:
        """The org, or :class:`NotFound`."""
        org = await self._trust.get_org(_org_id(org_id))
        if org is None:
            raise NotFound(f"no org {_org_id(org_id)} in the registry")
        return org

    async def get_org(self, org_id: str) -> OrgDetails:
        org = await self.org(org_id)
        certificates = await self._trust.list_certificates(org.org_id, include_retired=True)
        return OrgDetails(org, certificates, await self._trust.org_apps(org.org_id))

    async def add_org(self, given: OrgInput) -> Org:
        """Register an org, bound to the Canvas apps it lists (each must be registered)."""
        with _store_input():
            return await self._trust.add_org(given.org(), apps=given.apps)

    async def update_org(self, org_id: str, changes: OrgChanges) -> Org:
        current = await self.org(org_id)
        given = changes.given()
        lifetimes = {name: given.pop(name) for name in POLICY_COLUMNS if name in given}
        if lifetimes:
            given["policy"] = dataclasses.replace(current.policy, **lifetimes)
        with _store_input():
            return await self._trust.update_org(current.org_id, **given)

    async def set_enabled(self, org_id: str, enabled: bool) -> Org:
        return await self.update_org(org_id, OrgChanges(enabled=enabled))

    async def remove_org(self, org_id: str) -> None:
        await self._trust.delete_org(_org_id(org_id))

    # --- certificates ---------------------------------------------------------------------------------

    async def list_certificates(self, org_id: str, *, include_retired: bool = True) -> Sequence[CertificateRecord]:
        org = await self.org(org_id)
        return await self._trust.list_certificates(org.org_id, include_retired=include_retired)

    async def expiring_certificates(self, *, days: int, limit: int = 1000) -> Sequence[CertificateRecord]:
        """Active certificates of enabled orgs expiring within ``days`` (expired ones too), soonest first."""
        return await self._trust.expiring_certificates(self._clock.now() + days * 86400, limit=limit)

    async def certificate_holders(self, fingerprint: str) -> Sequence[str]:
        """The orgs that trust the certificate with this SHA-256 fingerprint (full, lowercase hex)."""
        return await self._trust.certificate_holders(fingerprint)

    async def add_certificates(
        self,
        org_id: str,
        certificates: Sequence[tuple[str, x509.Certificate]],
        *,
        shared: bool = False,
        actor: Actor | None = None,
    ) -> AddedCertificates:
        """Trust each ``(label, certificate)`` for the org: all of them, or (on any refusal) none.

        Each must pass the certificate policy for the org's algorithms; one already trusted for
        another org is refused unless ``shared`` (then flagged as shared for every holder, and the
        decision audited).
        """
        org = await self.org(org_id)
        now = self._clock.now()
        checks = [
            check_certificate(
                certificate,
                fingerprint=sha256_fingerprint(certificate),
                algorithms=org.algorithms,
                now=_datetime(now),
            )
            for _, certificate in certificates
        ]
        with _store_input():
            records = await self._trust.add_certificates(
                org.org_id,
                [(check.certificate, label) for (label, _), check in zip(certificates, checks, strict=True)],
                shared=shared,
            )
        for record in records:
            if record.shared:
                await self._audit_shared(record, actor or Actor())
        return AddedCertificates(records, tuple(w for check in checks for w in check.warnings))

    async def add_certificate_text(self, org_id: str, given: CertificateInput, *, actor: Actor) -> AddedCertificates:
        """Trust the one certificate in ``given.certificate`` (PEM, or base64 DER)."""
        found = certificates_in(load_keystore(given.certificate.encode("utf-8")))
        if len(found) != 1:
            raise KeyMaterialError(f"expected exactly one certificate (PEM or base64 DER), found {len(found)}")
        (default_label, certificate) = found[0]
        return await self.add_certificates(
            org_id, [(given.label or default_label, certificate)], shared=given.shared, actor=actor
        )

    async def set_certificate_state(
        self, org_id: str, fingerprint: str, given: CertificateStateInput
    ) -> tuple[CertificateRecord, int]:
        """Retire or re-activate a certificate; the record and how many the org has active after it."""
        org = await self.org(org_id)
        state: CertificateState = "active" if given.state == "active" else "retired"
        with _store_input():
            record = await self._trust.set_certificate_state(org.org_id, fingerprint, state)
        active = await self._trust.list_certificates(org.org_id, include_retired=False)
        return record, len(active)

    async def end_overlap(self, org_id: str, fingerprint: str, *, actor: Actor) -> CertificateRecord:
        """The org confirms its rotation: retire now a certificate whose overlap is running.

        An org (its access token or a direct JWT) may retire only a certificate a rotation already
        replaced — never its last one, never one no successor vouched for; anything else is the ISV's
        (``certs retire``)."""
        org = await self.org(org_id)
        now = self._clock.now()
        certificates = await self._trust.list_certificates(org.org_id, include_retired=False)
        matches = [c for c in certificates if c.sha256_fingerprint == fingerprint.lower()]
        if not matches or matches[0].retire_at is None or not matches[0].trusted_at(now):
            refusal = EnrollmentStateConflict(
                f"certificate {fingerprint[:64]} of org {org.org_id} is not in a rotation overlap: nothing to confirm"
            )
            await self._audit_event(actor, "denied", refusal.code, refusal.reason, org.org_id)
            raise refusal
        with _store_input():
            record = await self._trust.set_certificate_state(org.org_id, matches[0].sha256_fingerprint, "retired")
        detail = f"certificate {record.sha256_fingerprint} retired at the org's confirmation of its rotation"
        await self._audit_event(actor, "allowed", "certificate_retired", detail, org.org_id)
        return record

    async def _audit_event(self, actor: Actor, result: str, code: str, detail: str, org_id: str) -> None:
        await self._stores.audit.append([audit_event(self._clock, actor, result, code, detail, org_id)])

    async def _audit_shared(self, record: CertificateRecord, actor: Actor) -> None:
        holders = await self._trust.certificate_holders(record.sha256_fingerprint)
        others = [holder for holder in holders if holder != record.org_id]
        await self._stores.audit.append(
            [
                AuditEvent(
                    at=self._clock.now(),
                    endpoint=actor.entry,
                    credential=actor.credential,
                    result="allowed",
                    code="certificate_shared",
                    detail=(
                        f"certificate {record.sha256_fingerprint} trusted for org {record.org_id} as shared with "
                        f"{', '.join(others)[:300]}: any org holding its key can sign as the others"
                    ),
                    org_id=record.org_id,
                    client=actor.client,
                )
            ]
        )

    # --- the service's own credentials -------------------------------------------------------------------

    async def signing_keys(self) -> Sequence[SigningKey]:
        """Every access-token signing key, newest first; the newest active one signs."""
        return await self._stores.keys.signing_keys()

    async def ensure_signing_key(self) -> str | None:
        """Create the first signing key if there is none; its kid, or None when one existed."""
        if await self._stores.keys.signing_keys():
            return None
        return await self._add_signing_key(self._clock.now())

    async def rotate_signing_key(self) -> KeyRotation:
        """Make a new ES256 key the signer; earlier keys keep verifying until retired."""
        earlier = await self._stores.keys.signing_keys()
        # The newest key signs. A host whose clock lags the one that made the current signer must
        # still make the newest key: never older than the keys already there.
        created = max([self._clock.now(), *(key.created_at + 0.001 for key in earlier)])
        kid = await self._add_signing_key(created)
        longest, leeway = await self._longest_token_lifetime(), self._settings.leeway
        dead_after = self._clock.now() + longest + leeway
        return KeyRotation(kid, earlier, dead_after if earlier else None, longest, leeway)

    async def retire_signing_key(self, kid: str) -> KeyRotation:
        """Delete key ``kid``: tokens it signed are refused from every worker's next request."""
        keys = await self._stores.keys.signing_keys()
        await self._stores.keys.retire_signing_key(kid)
        kids = [key.kid for key in keys]
        position = kids.index(kid)
        longest, leeway = await self._longest_token_lifetime(), self._settings.leeway
        # Tokens signed with this key were issued until its successor appeared.
        dead_after = keys[position - 1].created_at + longest + leeway if position > 0 else None
        return KeyRotation(kid, keys, dead_after, longest, leeway)

    async def _add_signing_key(self, created: float) -> str:
        private_key, kid = new_signing_key()
        pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        await self._stores.keys.add_signing_key(
            SigningKey(kid=kid, algorithm="ES256", private_pem=pem, created_at=created)
        )
        return kid

    async def _longest_token_lifetime(self) -> int:
        """The longest lifetime an access token may be issued with: the service's, or an org's."""
        longest = self._settings.token_lifetime
        async for org in self.all_orgs():
            longest = max(longest, org.policy.token_lifetime or 0)
        return longest

    async def rotate_admin_token(self) -> str:
        """A new admin token (returned once; only its digest is stored); the previous one stops working."""
        token = secrets.token_urlsafe(32)
        await self._stores.keys.set_admin_token(token)
        return token

    async def ensure_admin_token(self) -> str | None:
        """Create the admin token if there is none, and return it (only then): None when one existed."""
        if await self._stores.keys.has_admin_token():
            return None
        return await self.rotate_admin_token()

    async def is_admin(self, token: str) -> bool:
        """Constant-time check of ``token`` against the admin credential."""
        return await self._stores.keys.check_admin_token(token)


def _org_id(value: str) -> str:
    return validate(value, prefix=ORG_PREFIX)


def _datetime(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)
