"""Subscriber enrollments and the approval list on SQLite (:class:`~forcegate.stores.protocols.EnrollmentStore`).

Part of the trust registry: every write is one ``BEGIN IMMEDIATE`` transaction that also bumps
``trust_generation``. A state change is a compare-and-set on the current state inside that
transaction; an activation registers the org, trusts the certificate (the registry's one certificate
write, :func:`~forcegate.stores.sqlite_trust.insert_certificates`) and activates the enrollment in
the same transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from forcegate.errors import AlreadyExists, ConfigurationError, EnrollmentStateConflict, NotFound
from forcegate.stores.enrollment_rows import (
    ENROLLMENT_COLUMN_COUNT,
    ENROLLMENT_COLUMNS,
    MAX_IMPORT,
    SIGN_IN_COLUMNS,
    check_enrollment,
    check_sign_in,
    check_states,
    conflict,
    enrollment_from_row,
    enrollment_values,
    sign_in_from_row,
    sign_in_values,
)
from forcegate.stores.models import (
    OPEN_ENROLLMENT_STATES,
    CertificateRecord,
    Enrollment,
    EnrollmentState,
    Org,
    SignIn,
)
from forcegate.stores.records import certificate_rows
from forcegate.stores.sqlite_db import SqliteDatabase, is_duplicate
from forcegate.stores.sqlite_trust import bump_generation, insert_certificates
from forcegate.stores.values import ORG_COLUMN_COUNT, ORG_COLUMNS, canonical_org_id, check_org, check_text, org_values

__all__ = ["SqliteEnrollmentStore"]

_MAX_PAGE = 1000
# Interpolated: the module's constants, never input.
_INSERT = f"INSERT INTO enrollments ({ENROLLMENT_COLUMNS}) VALUES ({', '.join('?' * ENROLLMENT_COLUMN_COUNT)})"  # noqa: S608
_SELECT = f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments"  # noqa: S608
_INSERT_ORG = (
    f"INSERT INTO orgs ({ORG_COLUMNS}) VALUES ({', '.join('?' * ORG_COLUMN_COUNT)}) ON CONFLICT (org_id) DO NOTHING"  # noqa: S608
)
_OPEN = ", ".join(f"'{state}'" for state in OPEN_ENROLLMENT_STATES)


def _current(conn: sqlite3.Connection, enrollment_id: str) -> Enrollment:
    row = conn.execute(f"{_SELECT} WHERE enrollment_id = ?", (enrollment_id,)).fetchone()
    if row is None:
        raise NotFound(f"no enrollment {enrollment_id!r}")
    return enrollment_from_row(row)


def _insert(conn: sqlite3.Connection, checked: Enrollment) -> None:
    """Insert ``checked``, expiring the open enrollment of the same org and certificate it replaces."""
    conn.execute(
        f"UPDATE enrollments SET state = 'expired', reason = 'replaced by a newer enrollment', updated_at = ? "  # noqa: S608
        f"WHERE org_id = ? AND sha256_fingerprint = ? AND state IN ({_OPEN})",
        (checked.created_at, checked.org_id, checked.sha256_fingerprint),
    )
    try:
        conn.execute(_INSERT, enrollment_values(checked))
    except sqlite3.IntegrityError as exc:
        if not is_duplicate(exc):
            raise
        raise AlreadyExists(f"enrollment {checked.enrollment_id} already exists") from None


def _activate(
    conn: sqlite3.Connection,
    found: Enrollment,
    org: Org,
    label: str,
    now: float,
    decided_by: str | None,
    proven: bool,
    retire_previous_at: float | None,
) -> tuple[Enrollment, CertificateRecord]:
    """Activate ``found`` inside the caller's write transaction (EnrollmentStore.activate_enrollment)."""
    if org.org_id != found.org_id:
        raise ConfigurationError(f"enrollment {found.enrollment_id} is for org {found.org_id}, not {org.org_id}")
    if found.replaces_fingerprint is not None:
        if retire_previous_at is None:
            raise ConfigurationError("a rotation's activation says when the replaced certificate retires")
        # The chain: the certificate that signed the rotation must still be trusted, and not already
        # replaced by another rotation (one successor per certificate).
        retiring = conn.execute(
            "UPDATE certificates SET retire_at = ? WHERE org_id = ? AND sha256_fingerprint = ? "
            "AND state = 'active' AND retire_at IS NULL",
            (float(retire_previous_at), found.org_id, found.replaces_fingerprint),
        ).rowcount
        if not retiring:
            raise EnrollmentStateConflict(
                f"certificate {found.replaces_fingerprint} that signed the rotation is no longer trusted, "
                "or another rotation replaced it already"
            )
    conn.execute(_INSERT_ORG, org_values(org, now))
    new = certificate_rows(found.org_id, [(found.certificate(), label)], now, shared=0)
    (record,) = insert_certificates(conn, found.org_id, new, shared=False)
    conn.execute(
        "UPDATE enrollments SET state = 'active', updated_at = ?, decided_by = COALESCE(?, decided_by), "
        "proven_at = CASE WHEN ? THEN ? ELSE proven_at END WHERE enrollment_id = ?",
        (now, decided_by, int(proven), now, found.enrollment_id),
    )
    updated = _current(conn, found.enrollment_id)
    bump_generation(conn)
    return updated, record


class SqliteEnrollmentStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def add_enrollment(self, enrollment: Enrollment) -> Enrollment:
        checked = check_enrollment(enrollment)
        async with self._db.write() as conn:
            _insert(conn, checked)
            bump_generation(conn)
        return checked

    async def get_enrollment(self, enrollment_id: str) -> Enrollment | None:
        row = self._db.read_one(f"{_SELECT} WHERE enrollment_id = ?", (enrollment_id,))
        return None if row is None else enrollment_from_row(row)

    async def list_enrollments(
        self, *, states: Sequence[EnrollmentState] = (), org_id: str | None = None, limit: int = 100
    ) -> Sequence[Enrollment]:
        wanted = check_states(states)
        conditions: list[str] = []
        params: list[object] = []
        if wanted:
            conditions.append(f"state IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if org_id is not None:
            conditions.append("org_id = ?")
            params.append(canonical_org_id(org_id))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        params.append(max(0, min(limit, _MAX_PAGE)))
        rows = self._db.read_all(f"{_SELECT}{where} ORDER BY created_at DESC, enrollment_id LIMIT ?", tuple(params))
        return [enrollment_from_row(row) for row in rows]

    async def set_enrollment_state(
        self,
        enrollment_id: str,
        *,
        expected: Sequence[EnrollmentState],
        state: EnrollmentState,
        now: float,
        decided_by: str | None = None,
        reason: str | None = None,
        proven: bool = False,
    ) -> Enrollment:
        allowed = check_states(expected)
        (new_state,) = check_states((state,))
        note = None if reason is None else check_text(reason, "reason")
        async with self._db.write() as conn:
            found = _current(conn, enrollment_id)
            if found.state not in allowed:
                raise conflict(found, allowed)
            conn.execute(
                "UPDATE enrollments SET state = ?, updated_at = ?, decided_by = COALESCE(?, decided_by), "
                "reason = COALESCE(?, reason), proven_at = CASE WHEN ? THEN ? ELSE proven_at END "
                "WHERE enrollment_id = ?",
                (new_state, now, decided_by, note, int(proven), now, enrollment_id),
            )
            updated = _current(conn, enrollment_id)
            bump_generation(conn)
        return updated

    async def activate_enrollment(
        self,
        enrollment_id: str,
        *,
        expected: Sequence[EnrollmentState],
        org: Org,
        label: str,
        now: float,
        decided_by: str | None = None,
        proven: bool = False,
        retire_previous_at: float | None = None,
    ) -> tuple[Enrollment, CertificateRecord]:
        allowed = check_states(expected)
        checked_org = check_org(org)
        async with self._db.write() as conn:
            found = _current(conn, enrollment_id)
            if found.state not in allowed:
                raise conflict(found, allowed)
            return _activate(conn, found, checked_org, label, now, decided_by, proven, retire_previous_at)

    async def add_active_enrollment(
        self, enrollment: Enrollment, *, org: Org, label: str, decided_by: str, retire_previous_at: float | None
    ) -> tuple[Enrollment, CertificateRecord]:
        checked = check_enrollment(enrollment)
        if checked.state != "pending_approval":
            raise ConfigurationError("an enrollment activated as it is added is proven: pending_approval")
        checked_org = check_org(org)
        async with self._db.write() as conn:
            _insert(conn, checked)
            return _activate(
                conn, checked, checked_org, label, checked.created_at, decided_by, True, retire_previous_at
            )

    async def expire_enrollments(self, now: float) -> int:
        async with self._db.write() as conn:
            count = conn.execute(
                "UPDATE enrollments SET state = 'expired', reason = 'the enrollment code expired', updated_at = ? "
                "WHERE state IN ('pending_proof', 'approved') AND code_expires_at < ?",
                (now, now),
            ).rowcount
            if count:
                bump_generation(conn)
        return count

    async def enrollment_counts(self) -> dict[str, int]:
        rows = self._db.read_all("SELECT state, COUNT(*) FROM enrollments GROUP BY state")
        return {row[0]: int(row[1]) for row in rows}

    async def approve_orgs(self, org_ids: Sequence[str], *, source: str = "") -> int:
        if isinstance(org_ids, str) or len(org_ids) > MAX_IMPORT:
            raise ConfigurationError(f"org ids are a list of at most {MAX_IMPORT}")
        ids = [canonical_org_id(org_id) for org_id in org_ids]
        label = check_text(source, "source")
        now = time.time()
        async with self._db.write() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO approved_orgs (org_id, source, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (org_id) DO NOTHING",
                [(org_id, label, now) for org_id in ids],
            )
            added = conn.total_changes - before
            bump_generation(conn)
        return added

    async def is_org_approved(self, org_id: str) -> bool:
        return (
            self._db.read_one("SELECT 1 FROM approved_orgs WHERE org_id = ?", (canonical_org_id(org_id),)) is not None
        )

    async def approved_orgs(self, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        rows = self._db.read_all(
            "SELECT org_id FROM approved_orgs WHERE org_id > ? ORDER BY org_id LIMIT ?",
            (after or "", max(0, min(limit, _MAX_PAGE))),
        )
        return [row[0] for row in rows]

    # --- sign-ins (per-request state, not the registry: no generation bump) ---------------------------

    async def begin_sign_in(self, sign_in: SignIn) -> None:
        checked = check_sign_in(sign_in)
        await self._db.execute(
            f"INSERT INTO enrollment_sign_ins ({SIGN_IN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            sign_in_values(checked),
            duplicate="this sign-in already exists",
        )

    async def complete_sign_in(
        self, id_hash: str, state_hash: str, *, org_id: str, user_id: str, username: str, now: float, expires_at: float
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE enrollment_sign_ins SET org_id = ?, user_id = ?, username = ?, expires_at = ? "
            "WHERE id_hash = ? AND state_hash = ? AND org_id IS NULL AND expires_at > ?",
            (canonical_org_id(org_id), user_id, check_text(username, "username"), expires_at, id_hash, state_hash, now),
        )
        return changed == 1

    async def get_sign_in(self, id_hash: str, *, now: float) -> SignIn | None:
        row = self._db.read_one(
            f"SELECT {SIGN_IN_COLUMNS} FROM enrollment_sign_ins WHERE id_hash = ? AND expires_at > ?",  # noqa: S608
            (id_hash, now),
        )
        return None if row is None else sign_in_from_row(row)

    async def end_sign_in(self, id_hash: str) -> None:
        await self._db.execute("DELETE FROM enrollment_sign_ins WHERE id_hash = ?", (id_hash,))

    async def purge_sign_ins(self, now: float) -> int:
        return await self._db.execute("DELETE FROM enrollment_sign_ins WHERE expires_at <= ?", (now,))
