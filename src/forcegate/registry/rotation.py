"""Certificate rotation from the org: a trusted certificate vouches for its successor.

Before a certificate expires the subscriber admin creates a new one in Setup and the package's setup
page sends a rotation request (docs/onboarding.md, "Rotating the certificate"): ONE claims set —
``iss`` the org id, ``aud`` ``PUBLIC_URL/enroll/rotate``, the usual times, and the new certificate
(base64 DER) in ``forcegate_new_certificate`` — signed twice, by the **currently trusted** key
(``assertion``) and by the **new** key (``new_key_assertion``). Apex builds the payload once with
``Auth.JWT.toJSONString()`` and signs it with ``new Auth.JWS(payload, name)`` for each certificate.

:meth:`Rotations.rotate` checks, in this order: both parse (allow-listed asymmetric algorithms), the
two payloads are the same bytes, the org is registered and enabled, the first signature verifies with
one of the org's trusted certificates that no earlier rotation already replaced (``iss``, ``aud``,
times and lifetime as for any assertion), the new certificate passes the registry's certificate
policy (:func:`forcegate.registry.policy.check_certificate`) and no org holds it yet, the second
signature verifies with the new certificate's key, and the request was not seen before (the replay
cache, as for grants). Then, in ONE store transaction, the new certificate is trusted, the signing
one scheduled to retire after ``rotation_overlap`` and the rotation recorded as an active enrollment
(``replaces_fingerprint``); under ``rotation_approval`` it waits in the enrollment queue instead, and
the ISV's approval does the same.

Why both signatures: the old one proves the request comes from the org (only it holds the trusted
key), the new one that the org holds the new key (the certificate alone is public, anyone could copy
it). Why the chain needs no operator: whoever holds a trusted key can already sign as the org; a
rotation gives them nothing more, and it retires that key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core import ids
from forcegate.core.algorithms import ASSERTION_ALGORITHMS
from forcegate.core.jws import CompactJWS, JWSVerifier, loads_claims
from forcegate.core.jwt import JWTPolicy, JWTVerifier, VerifiedJWT
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    AlreadyExists,
    AssertionReplayed,
    CertificateShared,
    EnrollmentStateConflict,
    ForcegateError,
    InvalidClaim,
    InvalidSignature,
    KeyNotFound,
    OrgDisabled,
    UnknownIssuer,
)
from forcegate.keys import sha256_fingerprint
from forcegate.registry.enrollment import AuditSink, StepAudit, new_enrollment_id
from forcegate.registry.inputs import OrgInput
from forcegate.registry.policy import check_certificate
from forcegate.registry.results import Actor
from forcegate.stores.key_digests import key_sha256
from forcegate.stores.models import CertificateRecord, Enrollment

__all__ = ["NEW_CERTIFICATE_CLAIM", "ROTATE_PATH", "Rotation", "Rotations", "claimed_org"]

#: Where rotation requests are posted; ``public_url`` + this is their required ``aud``.
ROTATE_PATH = "/enroll/rotate"
#: The claim carrying the new certificate: standard base64 of its DER (a PEM body without its lines).
NEW_CERTIFICATE_CLAIM = "forcegate_new_certificate"
_MAX_CERTIFICATE_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Rotation:
    """A rotation as recorded: the enrollment (``active``, or ``pending_approval`` under
    ``rotation_approval``), the new certificate once trusted, and the one it replaces."""

    enrollment: Enrollment
    certificate: CertificateRecord | None
    replaced: CertificateRecord
    retire_at: float | None


class Rotations(StepAudit):
    """Rotation from the org (see the module docstring), reached as ``RegistryService.rotations``."""

    @property
    def audience(self) -> str:
        return self._settings.public_url + ROTATE_PATH

    async def rotate(
        self, assertion: str, new_key_assertion: str, *, actor: Actor, audit: AuditSink | None = None
    ) -> Rotation:
        """Check a rotation request and carry it out (module docstring); refused with the failing check.

        Anyone can post one: give the serving process's audit writer as ``audit``, so junk cannot write
        unbounded refusals to the audit log.
        """
        org_id: str | None = None
        try:
            current = self._parser.parse(assertion)
            new = self._parser.parse(new_key_assertion)
            if not hmac.compare_digest(current.payload, new.payload):
                raise InvalidClaim("the two signatures are not over the same claims")
            claims = loads_claims(current.payload)
            org_id = _org_of(claims.get("iss"))
            rotation = await self._rotate(assertion, current, new_key_assertion, new, claims, org_id)
        except ForcegateError as exc:
            detail = f"rotation refused: {exc.reason}"
            await self._audit(actor, "denied", exc.code, detail, org_id, None, exc.verified, sink=audit)
            raise
        code = "certificate_rotated" if rotation.certificate is not None else "rotation_pending_approval"
        detail = (
            f"rotation {rotation.enrollment.enrollment_id}: certificate {rotation.enrollment.sha256_fingerprint} "
            f"replaces {rotation.replaced.sha256_fingerprint}"
        )
        await self._audit(actor, "allowed", code, detail, rotation.enrollment.org_id, rotation.enrollment.username,
                          sink=audit)  # fmt: skip
        return rotation

    async def _rotate(
        self,
        assertion: str,
        current: CompactJWS,
        new_key_assertion: str,
        new: CompactJWS,
        claims: dict[str, Any],
        org_id: str,
    ) -> Rotation:
        org = await self._stores.trust.get_org(org_id)
        if org is None:
            raise UnknownIssuer(f"org {org_id} is not registered: enroll it first")
        if not org.enabled:
            raise OrgDisabled(f"org {org_id} is disabled")
        now = self._clock.now()
        # Only certificates no rotation replaced yet may vouch for a successor: a key in its overlap is
        # on its way out, and one successor per certificate keeps the chain a line.
        vouching = [
            c for c in await self._stores.trust.list_certificates(org_id, include_retired=False)
            if c.trusted_at(now) and c.retire_at is None
        ]  # fmt: skip
        if not vouching:
            raise KeyNotFound(f"org {org_id} has no trusted certificate that may vouch for a successor")
        policy = JWTPolicy(
            audiences=frozenset({self.audience}),
            issuers=frozenset({org_id, ids.to15(org_id)}),
            algorithms=frozenset(org.algorithms),
            leeway=self._settings.leeway,
            max_lifetime=org.policy.max_assertion_lifetime or self._settings.max_assertion_lifetime,
        )
        # Keys are given per call: the first signature's candidates, then the new certificate's alone.
        verifier = JWTVerifier(policy=policy, keys=[], clock=self._clock)
        verified = verifier.verify_parsed(assertion, current, claims, keys=[c.trusted_key() for c in vouching])
        replaced = _signer(verified, vouching)
        try:
            certificate = _new_certificate(claims.get(NEW_CERTIFICATE_CLAIM))
            fingerprint = sha256_fingerprint(certificate)
            check = check_certificate(
                certificate,
                fingerprint=fingerprint,
                algorithms=org.algorithms,
                now=datetime.fromtimestamp(now, UTC),
            )
            holders = await self._stores.trust.certificate_holders(fingerprint, key_sha256=key_sha256(certificate))
            if org_id in holders:
                raise AlreadyExists(f"certificate {fingerprint} is already trusted for org {org_id}")
            if holders:
                raise CertificateShared(
                    f"certificate {fingerprint} (or another certificate of its key) is already trusted for another "
                    "org: each org rotates to its own"
                )
            try:
                verifier.verify_parsed(
                    new_key_assertion,
                    new,
                    claims,
                    keys=[TrustedKey.from_certificate(check.certificate, label="new certificate")],
                )
            except (InvalidSignature, KeyNotFound) as exc:
                raise InvalidSignature(f"the new certificate's key did not sign the request: {exc.reason}") from None
            if not await self._stores.replay.claim(
                "rotate:" + verified.replay_key(), verified.expires_at + self._settings.leeway, now=now
            ):
                raise AssertionReplayed("this rotation request was already used")
        except ForcegateError as exc:
            exc.verified = True  # the org's trusted key signed the request
            raise
        return await self._record(verified, check.certificate, fingerprint, replaced, org_id, now)

    async def _record(
        self,
        verified: VerifiedJWT,
        certificate: x509.Certificate,
        fingerprint: str,
        replaced: CertificateRecord,
        org_id: str,
        now: float,
    ) -> Rotation:
        username = verified.subject or org_id
        enrollment = Enrollment(
            enrollment_id=new_enrollment_id(),
            org_id=org_id,
            user_id=username,
            username=username,
            certificate_der=certificate.public_bytes(Encoding.DER),
            sha256_fingerprint=fingerprint,
            state="pending_approval",
            # No code: the signature by the trusted key stands for it. An unusable digest fills the column.
            code_digest=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            code_expires_at=now,
            proven_at=now,
            created_at=now,
            updated_at=now,
            replaces_fingerprint=replaced.sha256_fingerprint,
        )
        if self._settings.rotation_approval:
            held = await self._stores.enrollments.add_enrollment(enrollment)
            return Rotation(held, None, replaced, None)
        retire_at = now + self._settings.rotation_overlap
        try:
            active, record = await self._stores.enrollments.add_active_enrollment(
                enrollment,
                org=OrgInput(org_id=org_id).org(),
                label=f"rotated by {username}"[:255],
                decided_by="policy:rotation",
                retire_previous_at=retire_at,
            )
        except EnrollmentStateConflict as exc:
            raise AssertionReplayed(f"the signing certificate was replaced meanwhile: {exc.reason}") from None
        return Rotation(active, record, replaced, retire_at)


_CLAIM_READER = JWSVerifier(algorithms=ASSERTION_ALGORITHMS)


async def claimed_org(assertion: str) -> str | None:
    """The org a rotation request names, UNVERIFIED: only for counting a refusal against it (decision
    0013); read only when a refusal needs it."""
    try:
        return _org_of(loads_claims(_CLAIM_READER.parse(assertion).payload).get("iss"))
    except ForcegateError:
        return None


def _org_of(iss: object) -> str:
    """The org a rotation names by its ``iss``: an org id (15 or 18 characters), nothing else."""
    if not isinstance(iss, str):
        raise InvalidClaim("claim 'iss' must be the org id")
    try:
        return ids.validate(iss, prefix=ids.ORG_PREFIX)
    except ForcegateError:
        raise InvalidClaim("claim 'iss' must be the org id (15 or 18 characters, 00D…)") from None


def _signer(verified: VerifiedJWT, vouching: list[CertificateRecord]) -> CertificateRecord:
    """The certificate whose key verified the request (the verifier hands back the key it used)."""
    for record in vouching:
        if record.x5t_s256 == verified.key.x5t_s256:
            return record
    raise KeyNotFound("the key that verified the rotation is not among the org's certificates")


def _new_certificate(value: object) -> x509.Certificate:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_CERTIFICATE_CHARS:
        raise InvalidClaim(f"claim {NEW_CERTIFICATE_CLAIM!r} must carry the new certificate (base64 DER)")
    try:
        der = base64.b64decode("".join(value.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise InvalidClaim(f"claim {NEW_CERTIFICATE_CLAIM!r} is not a base64 DER certificate") from None
