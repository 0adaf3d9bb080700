"""Rows of the enrollment tables, shared by the SQLite and PostgreSQL enrollment stores."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from forcegate.errors import ConfigurationError, EnrollmentStateConflict
from forcegate.stores.models import Enrollment, EnrollmentState, SignIn
from forcegate.stores.values import Row, canonical_org_id, check_text

__all__ = [
    "ENROLLMENT_COLUMNS",
    "ENROLLMENT_COLUMN_COUNT",
    "ENROLLMENT_ID",
    "ENROLLMENT_STATES",
    "MAX_IMPORT",
    "SIGN_IN_COLUMNS",
    "check_enrollment",
    "check_sign_in",
    "check_states",
    "conflict",
    "enrollment_from_row",
    "enrollment_values",
    "sign_in_from_row",
    "sign_in_values",
]

ENROLLMENT_COLUMNS = (
    "enrollment_id, org_id, user_id, username, certificate_der, sha256_fingerprint, state, code_digest, "
    "code_expires_at, proven_at, decided_by, reason, created_at, updated_at, replaces_fingerprint"
)
ENROLLMENT_COLUMN_COUNT = ENROLLMENT_COLUMNS.count(",") + 1
ENROLLMENT_STATES: tuple[EnrollmentState, ...] = (
    "pending_proof",
    "approved",
    "pending_approval",
    "active",
    "rejected",
    "expired",
)
#: ``enr_`` and 20 lowercase base32 characters (100 random bits): the id is public, the code is not.
ENROLLMENT_ID = re.compile(r"enr_[a-z2-7]{20}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
#: The most org ids one approval-list import takes (a million: far above any ISV's subscriber count).
MAX_IMPORT = 1_000_000


def check_states(states: object) -> tuple[EnrollmentState, ...]:
    if isinstance(states, str) or not isinstance(states, Sequence):
        raise ConfigurationError("enrollment states are a list")
    for state in states:
        if state not in ENROLLMENT_STATES:
            raise ConfigurationError(f"an enrollment state is one of {', '.join(ENROLLMENT_STATES)}, not {state!r}")
    return tuple(states)


def check_enrollment(enrollment: Enrollment) -> Enrollment:
    """``enrollment`` with its org id canonical, every field checked."""
    if not isinstance(enrollment, Enrollment):
        raise ConfigurationError(f"expected an Enrollment, not {type(enrollment).__name__}")
    if not ENROLLMENT_ID.fullmatch(enrollment.enrollment_id):
        raise ConfigurationError("an enrollment id is 'enr_' and 20 base32 characters")
    check_states((enrollment.state,))
    if not _DIGEST.fullmatch(enrollment.code_digest) or not _DIGEST.fullmatch(enrollment.sha256_fingerprint):
        raise ConfigurationError("a code digest and a fingerprint are 64 lowercase hex digits")
    replaces = enrollment.replaces_fingerprint
    if replaces is not None and (not isinstance(replaces, str) or not _DIGEST.fullmatch(replaces)):
        raise ConfigurationError("a replaced certificate's fingerprint is 64 lowercase hex digits")
    if not isinstance(enrollment.certificate_der, bytes) or not enrollment.certificate_der:
        raise ConfigurationError("an enrollment's certificate is non-empty DER bytes")
    if hashlib.sha256(enrollment.certificate_der).hexdigest() != enrollment.sha256_fingerprint:
        raise ConfigurationError("the fingerprint is not the certificate's")
    check_text(enrollment.user_id, "user id", allow_empty=False)
    check_text(enrollment.username, "username", allow_empty=False)
    return Enrollment(
        enrollment_id=enrollment.enrollment_id,
        org_id=canonical_org_id(enrollment.org_id),
        user_id=enrollment.user_id,
        username=enrollment.username,
        certificate_der=enrollment.certificate_der,
        sha256_fingerprint=enrollment.sha256_fingerprint,
        state=enrollment.state,
        code_digest=enrollment.code_digest,
        code_expires_at=float(enrollment.code_expires_at),
        proven_at=enrollment.proven_at,
        decided_by=enrollment.decided_by,
        reason=check_text(enrollment.reason, "reason"),
        created_at=float(enrollment.created_at),
        updated_at=float(enrollment.updated_at),
        replaces_fingerprint=replaces,
    )


def enrollment_values(e: Enrollment) -> tuple[Any, ...]:
    """The values of ``ENROLLMENT_COLUMNS``."""
    return (
        e.enrollment_id,
        e.org_id,
        e.user_id,
        e.username,
        e.certificate_der,
        e.sha256_fingerprint,
        e.state,
        e.code_digest,
        e.code_expires_at,
        e.proven_at,
        e.decided_by,
        e.reason,
        e.created_at,
        e.updated_at,
        e.replaces_fingerprint,
    )


def enrollment_from_row(row: Row) -> Enrollment:
    """From a row of ``ENROLLMENT_COLUMNS``."""
    (
        eid,
        oid,
        user_id,
        username,
        der,
        fingerprint,
        state,
        digest,
        expires,
        proven,
        decided,
        reason,
        created,
        updated,
        replaces,
    ) = tuple(row)
    return Enrollment(
        enrollment_id=eid,
        org_id=oid,
        user_id=user_id,
        username=username,
        certificate_der=bytes(der),
        sha256_fingerprint=fingerprint,
        state=state,
        code_digest=digest,
        code_expires_at=expires,
        proven_at=proven,
        decided_by=decided,
        reason=reason,
        created_at=created,
        updated_at=updated,
        replaces_fingerprint=replaces,
    )


def conflict(enrollment: Enrollment, expected: Sequence[EnrollmentState]) -> EnrollmentStateConflict:
    return EnrollmentStateConflict(
        f"enrollment {enrollment.enrollment_id} is {enrollment.state}, not {' or '.join(expected)}"
    )


SIGN_IN_COLUMNS = "id_hash, state_hash, login_url, org_id, user_id, username, created_at, expires_at"


def check_sign_in(sign_in: SignIn) -> SignIn:
    if not isinstance(sign_in, SignIn):
        raise ConfigurationError(f"expected a SignIn, not {type(sign_in).__name__}")
    if not _DIGEST.fullmatch(sign_in.id_hash) or not _DIGEST.fullmatch(sign_in.state_hash):
        raise ConfigurationError("a sign-in's id and state digests are 64 lowercase hex digits")
    check_text(sign_in.login_url, "login URL", allow_empty=False)
    if sign_in.completed:
        raise ConfigurationError("a sign-in begins without an org (complete_sign_in sets it)")
    return sign_in


def sign_in_values(sign_in: SignIn) -> tuple[Any, ...]:
    return (
        sign_in.id_hash,
        sign_in.state_hash,
        sign_in.login_url,
        sign_in.org_id,
        sign_in.user_id,
        sign_in.username,
        float(sign_in.created_at),
        float(sign_in.expires_at),
    )


def sign_in_from_row(row: Row) -> SignIn:
    id_hash, state_hash, login_url, org_id, user_id, username, created_at, expires_at = tuple(row)
    return SignIn(
        id_hash=id_hash,
        state_hash=state_hash,
        login_url=login_url,
        org_id=org_id,
        user_id=user_id,
        username=username,
        created_at=created_at,
        expires_at=expires_at,
    )
