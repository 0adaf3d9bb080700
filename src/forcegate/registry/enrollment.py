"""Subscriber enrollment: the registry's steps and policy for an org to have its own certificate trusted.

Every adapter (the ``/enroll`` pages, the proof endpoint, the CLI's ``enrollments`` commands, the
admin API) calls :class:`Enrollments`, reached as ``RegistryService.enrollments``; none decides
anything itself. The steps (docs/onboarding.md):

1. :meth:`Enrollments.start` — a signed-in subscriber admin (the adapter verified the Salesforce
   sign-in and the admin permission) uploads a certificate. The registry's certificate policy
   applies (:func:`forcegate.registry.policy.check_certificate`: key strength, not expired, fits the
   org's algorithms), and a certificate already trusted for another org is refused
   (:class:`CertificateShared`; enrollment never shares). The answer carries the one-time
   enrollment code, returned once: only its SHA-256 is stored.
2. :meth:`Enrollments.prove` — proof of possession: a JWT from the org (``iss`` its id) signed with
   the uploaded certificate's key, ``aud`` the proof endpoint's URL, carrying the code in the
   ``enrollment_code`` claim. Checked in this order: parse (size, allow-listed asymmetric ``alg``),
   the code names an enrollment, signature with that enrollment's certificate only, ``iss``, ``aud``,
   times and lifetime (:class:`~forcegate.core.jwt.JWTVerifier`), the code's digest (constant time),
   the code not expired, the enrollment waiting for a proof. The code is single use: the state change
   that consumes it is a compare-and-set, so a replay (or a race) finds it consumed.
3. The approval policy (``enrollment_policy``): ``auto`` activates a proven enrollment, ``listed``
   activates one whose org is on the approval list (:meth:`Enrollments.import_orgs`), ``manual``
   none; the others wait in ``pending_approval`` for :meth:`Enrollments.approve`. An ISV may also
   approve before the proof (``approved``): the proof then activates.
4. Activation: the org is registered if it is new (an :class:`OrgInput` with the defaults of
   ``forcegate orgs add``) and the certificate trusted, as ``forcegate certs add`` does (the same
   policy check, the store's one certificate write), and the enrollment made ``active`` — all in ONE
   store transaction.

A refused step changes nothing but the audit log; every step, allowed or refused, is audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.clock import Clock
from forcegate.core import ids
from forcegate.core.algorithms import ASSERTION_ALGORITHMS
from forcegate.core.jws import JWSVerifier, loads_claims
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    AlreadyExists,
    CertificateShared,
    EnrollmentCodeInvalid,
    EnrollmentStateConflict,
    ForcegateError,
    NotFound,
)
from forcegate.keys import sha256_fingerprint
from forcegate.registry.inputs import EnrollmentRejectionInput, OrgInput
from forcegate.registry.policy import check_certificate
from forcegate.registry.results import Actor, audit_event
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.enrollment_rows import ENROLLMENT_ID
from forcegate.stores.key_digests import key_sha256
from forcegate.stores.models import (
    DEFAULT_ORG_ALGORITHMS,
    OPEN_ENROLLMENT_STATES,
    AuditEvent,
    CertificateRecord,
    Enrollment,
    EnrollmentState,
)

__all__ = [
    "CODE_CLAIM",
    "PROOF_PATH",
    "AuditSink",
    "Enrollments",
    "StartedEnrollment",
    "StepAudit",
    "code_digest",
    "new_enrollment_id",
]

#: Where a step's audit event goes, when not straight to the audit log: the serving process's audit
#: writer, which bounds the unverified refusals one client can write (decision 0013).
AuditSink = Callable[[AuditEvent], Awaitable[None]]

#: The claim of the proof assertion that carries the one-time enrollment code.
CODE_CLAIM = "enrollment_code"
#: Where proofs are posted; ``public_url`` + this is the proof's required ``aud``.
PROOF_PATH = "/enroll/proof"
_CODE_SECRET_BYTES = 32
_MAX_CODE_LENGTH = 128


def code_digest(code: str) -> str:
    """What is stored of an enrollment code: its SHA-256 (hex). The code is 256 random bits, not a
    password, so a slow salted hash would protect nothing more (as for the admin token, decision 0006)."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def new_enrollment_id() -> str:
    return "enr_" + base64.b32encode(secrets.token_bytes(13)).decode("ascii").lower()[:20]


@dataclass(frozen=True, slots=True)
class StartedEnrollment:
    """A started enrollment, its one-time code (shown once, never stored) and the policy's warnings."""

    enrollment: Enrollment
    code: str
    warnings: tuple[str, ...]

    def __repr__(self) -> str:  # the code is a credential: keep it out of logs
        return f"StartedEnrollment(enrollment={self.enrollment!r}, warnings={self.warnings!r})"


class StepAudit:
    """The base of enrollment's and rotation's steps: the registry's stores, the settings, a parser for
    the org's assertions, and the steps' audit — to the audit log, or through the serving process's
    writer (``sink``), which bounds the unverified refusals one client can write (decision 0013)."""

    def __init__(self, stores: Stores, *, settings: Settings, clock: Clock) -> None:
        self._stores = stores
        self._settings = settings
        self._clock = clock
        self._parser = JWSVerifier(algorithms=ASSERTION_ALGORITHMS)

    async def _audit(
        self,
        actor: Actor,
        result: str,
        code: str,
        detail: str,
        org_id: str | None,
        subject: str | None,
        verified: bool = True,
        *,
        sink: AuditSink | None = None,
    ) -> None:
        event = audit_event(self._clock, actor, result, code, detail, org_id, subject, verified)
        if sink is not None:
            await sink(event)
        else:
            await self._stores.audit.append([event])


class Enrollments(StepAudit):
    """The enrollment steps and their policy, over the registry's stores (see the module docstring)."""

    def __init__(self, stores: Stores, *, settings: Settings, clock: Clock) -> None:
        super().__init__(stores, settings=settings, clock=clock)
        self._store = stores.enrollments

    @property
    def proof_audience(self) -> str:
        return self._settings.public_url + PROOF_PATH

    # --- reading -----------------------------------------------------------------------------------

    async def list_enrollments(
        self, *, states: Sequence[EnrollmentState] = (), org_id: str | None = None, limit: int = 100
    ) -> Sequence[Enrollment]:
        """Newest first (lapsed codes are marked expired first)."""
        await self._store.expire_enrollments(self._clock.now())
        return await self._store.list_enrollments(
            states=states, org_id=None if org_id is None else ids.validate(org_id, prefix=ids.ORG_PREFIX), limit=limit
        )

    async def get(self, enrollment_id: str) -> Enrollment:
        """The enrollment, or :class:`NotFound`."""
        await self._store.expire_enrollments(self._clock.now())
        found = await self._store.get_enrollment(enrollment_id) if ENROLLMENT_ID.fullmatch(enrollment_id) else None
        if found is None:
            raise NotFound(f"no enrollment {enrollment_id[:40]!r}")
        return found

    async def counts(self) -> dict[str, int]:
        """How many enrollments are in each state."""
        return await self._store.enrollment_counts()

    # --- 1. start ----------------------------------------------------------------------------------

    async def start(
        self, *, org_id: str, user_id: str, username: str, certificate: x509.Certificate, actor: Actor
    ) -> StartedEnrollment:
        """Record a signed-in admin's certificate as ``pending_proof`` (module docstring, step 1)."""
        org_id = ids.validate(org_id, prefix=ids.ORG_PREFIX)
        fingerprint = sha256_fingerprint(certificate)
        try:
            org = await self._stores.trust.get_org(org_id)
            check = check_certificate(
                certificate,
                fingerprint=fingerprint,
                algorithms=org.algorithms if org is not None else DEFAULT_ORG_ALGORITHMS,
                now=datetime.fromtimestamp(self._clock.now(), UTC),
            )
            holders = await self._stores.trust.certificate_holders(fingerprint, key_sha256=key_sha256(certificate))
            if org_id in holders:
                raise AlreadyExists(f"certificate {fingerprint} is already trusted for org {org_id}")
            if holders:
                raise CertificateShared(
                    f"certificate {fingerprint} (or another certificate of its key) is already trusted for another "
                    "org: each org enrolls its own"
                )
        except ForcegateError as exc:
            await self._audit(actor, "denied", exc.code, f"enrollment refused: {exc.reason}", org_id, username)
            raise
        now = self._clock.now()
        enrollment_id = new_enrollment_id()
        code = (
            f"{enrollment_id}.{base64.urlsafe_b64encode(secrets.token_bytes(_CODE_SECRET_BYTES)).decode().rstrip('=')}"
        )
        stored = await self._store.add_enrollment(
            Enrollment(
                enrollment_id=enrollment_id,
                org_id=org_id,
                user_id=user_id,
                username=username,
                certificate_der=check.certificate.public_bytes(Encoding.DER),
                sha256_fingerprint=fingerprint,
                state="pending_proof",
                code_digest=code_digest(code),
                code_expires_at=now + self._settings.enrollment_code_lifetime,
                created_at=now,
                updated_at=now,
            )
        )
        await self._audit(
            actor, "allowed", "enrollment_started", f"enrollment {enrollment_id} of certificate {fingerprint}",
            org_id, username,
        )  # fmt: skip
        return StartedEnrollment(stored, code, check.warnings)

    # --- 2. prove ----------------------------------------------------------------------------------

    async def prove(self, assertion: str, *, actor: Actor, audit: AuditSink | None = None) -> Enrollment:
        """Check a proof of possession (module docstring, step 2); the enrollment as the policy left it.

        Anyone can post a proof: give the serving process's audit writer as ``audit``, so junk cannot
        write unbounded refusals to the audit log.
        """
        found: Enrollment | None = None
        try:
            found = await self._proven(assertion)
            decided = await self._after_proof(found)
        except ForcegateError as exc:
            where = found.org_id if found is not None else None
            detail = f"proof refused: {exc.reason}"
            await self._audit(actor, "denied", exc.code, detail, where, None, exc.verified, sink=audit)
            raise
        await self._audit(
            actor, "allowed", "enrollment_proven", f"enrollment {decided.enrollment_id} proven: {decided.state}",
            decided.org_id, decided.username, sink=audit,
        )  # fmt: skip
        return decided

    async def claimed_org(self, assertion: str) -> str | None:
        """The org a refused proof is counted against (the failure limit, decision 0013): the
        enrollment's its code names, else the ``iss`` it claims when that is an org id; None when it
        names neither. Nothing here is verified: it only picks the counter."""
        try:
            claims = loads_claims(self._parser.parse(assertion).payload)
        except ForcegateError:
            return None
        code = claims.get(CODE_CLAIM)
        if isinstance(code, str) and 0 < len(code) <= _MAX_CODE_LENGTH:
            enrollment_id = code.split(".", 1)[0]
            if ENROLLMENT_ID.fullmatch(enrollment_id):
                found = await self._store.get_enrollment(enrollment_id)
                if found is not None:
                    return found.org_id
        issuer = claims.get("iss")
        if isinstance(issuer, str) and issuer.startswith(ids.ORG_PREFIX) and ids.is_valid(issuer):
            return ids.to18(issuer)
        return None

    async def _proven(self, assertion: str) -> Enrollment:
        jws = self._parser.parse(assertion)
        claims = loads_claims(jws.payload)
        code = claims.get(CODE_CLAIM)
        if not isinstance(code, str) or not 0 < len(code) <= _MAX_CODE_LENGTH:
            raise EnrollmentCodeInvalid(f"the assertion carries no {CODE_CLAIM} claim")
        enrollment_id = code.split(".", 1)[0]
        found = await self._store.get_enrollment(enrollment_id) if ENROLLMENT_ID.fullmatch(enrollment_id) else None
        if found is None:
            raise EnrollmentCodeInvalid("the enrollment code names no enrollment")
        org = await self._stores.trust.get_org(found.org_id)
        policy = JWTPolicy(
            audiences=frozenset({self.proof_audience}),
            issuers=frozenset({found.org_id, ids.to15(found.org_id)}),
            algorithms=frozenset(org.algorithms if org is not None else DEFAULT_ORG_ALGORITHMS),
            leeway=self._settings.leeway,
            max_lifetime=self._settings.max_assertion_lifetime,
        )
        key = TrustedKey.from_certificate(found.certificate(), label=f"enrollment {found.enrollment_id}")
        verifier = JWTVerifier(policy=policy, keys=[key], clock=self._clock)
        verifier.verify_parsed(assertion, jws, claims)  # the signature first, then iss, aud, times
        try:
            if not hmac.compare_digest(code_digest(code), found.code_digest):
                raise EnrollmentCodeInvalid(f"wrong code for enrollment {found.enrollment_id}")
            if found.state not in ("pending_proof", "approved"):
                raise EnrollmentCodeInvalid(f"enrollment {found.enrollment_id} is {found.state}: the code was used")
            if found.code_expires_at <= self._clock.now():
                raise EnrollmentCodeInvalid(f"the code of enrollment {found.enrollment_id} expired")
        except ForcegateError as exc:
            exc.verified = True  # the org's key signed it
            raise
        return found

    async def _after_proof(self, found: Enrollment) -> Enrollment:
        expected: tuple[EnrollmentState, ...] = (found.state,)
        policy = self._settings.enrollment_policy
        if found.state == "approved":
            decided_by = None  # the ISV's approval stands
        elif policy == "auto":
            decided_by = "policy:auto"
        elif policy == "listed" and await self._store.is_org_approved(found.org_id):
            decided_by = "policy:listed"
        else:
            try:
                return await self._store.set_enrollment_state(
                    found.enrollment_id, expected=expected, state="pending_approval", now=self._clock.now(), proven=True
                )
            except EnrollmentStateConflict as exc:
                raise EnrollmentCodeInvalid(f"the code was used meanwhile: {exc.reason}") from None
        try:
            activated, _ = await self._activate(found, expected=expected, decided_by=decided_by, proven=True)
        except EnrollmentStateConflict as exc:
            raise EnrollmentCodeInvalid(f"the code was used meanwhile: {exc.reason}") from None
        return activated

    # --- 3. the ISV's decisions ---------------------------------------------------------------------

    async def approve(self, enrollment_id: str, *, actor: Actor) -> Enrollment:
        """Approve: a proven enrollment becomes active; one still waiting for its proof becomes
        ``approved`` (its proof will activate it). Anything else is :class:`EnrollmentStateConflict`."""
        try:
            found = await self.get(enrollment_id)
            who = f"{actor.entry} ({actor.credential})"
            if found.state == "pending_approval":
                decided, _ = await self._activate(found, expected=("pending_approval",), decided_by=who, proven=False)
            elif found.state == "pending_proof":
                decided = await self._store.set_enrollment_state(
                    found.enrollment_id, expected=("pending_proof",), state="approved", now=self._clock.now(),
                    decided_by=who,
                )  # fmt: skip
            else:
                raise EnrollmentStateConflict(f"enrollment {found.enrollment_id} is {found.state}: nothing to approve")
        except ForcegateError as exc:
            await self._audit(actor, "denied", exc.code, f"approval refused: {exc.reason}", None, None)
            raise
        code = "enrollment_activated" if decided.state == "active" else "enrollment_approved"
        await self._audit(
            actor, "allowed", code, f"enrollment {decided.enrollment_id}: {decided.state}", decided.org_id,
            decided.username,
        )  # fmt: skip
        return decided

    async def reject(self, enrollment_id: str, given: EnrollmentRejectionInput, *, actor: Actor) -> Enrollment:
        """Reject an open enrollment (its code stops working); anything else is :class:`EnrollmentStateConflict`."""
        try:
            found = await self.get(enrollment_id)
            decided = await self._store.set_enrollment_state(
                found.enrollment_id, expected=OPEN_ENROLLMENT_STATES, state="rejected", now=self._clock.now(),
                decided_by=f"{actor.entry} ({actor.credential})", reason=given.reason,
            )  # fmt: skip
        except ForcegateError as exc:
            await self._audit(actor, "denied", exc.code, f"rejection refused: {exc.reason}", None, None)
            raise
        await self._audit(
            actor, "allowed", "enrollment_rejected", f"enrollment {decided.enrollment_id} rejected",
            decided.org_id, decided.username,
        )  # fmt: skip
        return decided

    async def import_orgs(self, org_ids: Sequence[str], *, source: str = "", actor: Actor) -> int:
        """Put orgs on the approval list (15- or 18-character ids, canonicalised), all in one
        transaction; how many were new. An entry trusts nothing: it lets the org's proven enrollment
        activate under ``enrollment_policy = listed``."""
        canonical = [ids.validate(org_id, prefix=ids.ORG_PREFIX) for org_id in org_ids]
        added = await self._store.approve_orgs(canonical, source=source[:255])
        await self._audit(
            actor, "allowed", "orgs_imported", f"{added} of {len(canonical)} org(s) added to the approval list",
            None, None,
        )  # fmt: skip
        return added

    async def approved_orgs(self, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        return await self._store.approved_orgs(limit=limit, after=after)

    # --- 4. activation -----------------------------------------------------------------------------

    async def _activate(
        self, found: Enrollment, *, expected: Sequence[EnrollmentState], decided_by: str | None, proven: bool
    ) -> tuple[Enrollment, CertificateRecord]:
        org = await self._stores.trust.get_org(found.org_id)
        # The certificate policy again, at this moment: it may have expired while waiting, or the
        # org's algorithms may have changed.
        check_certificate(
            found.certificate(),
            fingerprint=found.sha256_fingerprint,
            algorithms=org.algorithms if org is not None else DEFAULT_ORG_ALGORITHMS,
            now=datetime.fromtimestamp(self._clock.now(), UTC),
        )
        now = self._clock.now()
        rotation = found.replaces_fingerprint is not None  # a held rotation (registry.rotation)
        return await self._store.activate_enrollment(
            found.enrollment_id,
            expected=expected,
            org=OrgInput(org_id=found.org_id).org(),
            label=f"{'rotated' if rotation else 'enrolled'} by {found.username}"[:255],
            now=now,
            decided_by=decided_by,
            proven=proven,
            retire_previous_at=now + self._settings.rotation_overlap if rotation else None,
        )
