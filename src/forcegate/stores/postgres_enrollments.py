"""Subscriber enrollments and the approval list on PostgreSQL (:class:`~forcegate.stores.protocols.EnrollmentStore`).

The same behaviour as :mod:`forcegate.stores.sqlite_enrollments`. Each write bumps the registry
generation FIRST (its row lock serialises registry writes between workers and hosts, as SQLite's
write lock does), so a compare-and-set on an enrollment's state, or an activation's sharing check,
cannot interleave with another registry write.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence

import asyncpg

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
from forcegate.stores.postgres_db import Connection, PostgresDatabase, placeholders, rowcount
from forcegate.stores.postgres_trust import BUMP_GENERATION, insert_certificates
from forcegate.stores.records import certificate_rows
from forcegate.stores.values import ORG_COLUMN_COUNT, ORG_COLUMNS, canonical_org_id, check_org, check_text, org_values

__all__ = ["PostgresEnrollmentStore"]

_MAX_PAGE = 1000
# Interpolated: the module's constants, never input.
_INSERT = f"INSERT INTO enrollments ({ENROLLMENT_COLUMNS}) VALUES ({placeholders(ENROLLMENT_COLUMN_COUNT)})"  # noqa: S608
_SELECT = f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments"  # noqa: S608
_INSERT_ORG = (
    f"INSERT INTO orgs ({ORG_COLUMNS}) VALUES ({placeholders(ORG_COLUMN_COUNT)}) ON CONFLICT (org_id) DO NOTHING"  # noqa: S608
)
_OPEN = ", ".join(f"'{state}'" for state in OPEN_ENROLLMENT_STATES)


async def _current(conn: Connection, enrollment_id: str) -> Enrollment:
    row = await conn.fetchrow(f"{_SELECT} WHERE enrollment_id = $1 FOR UPDATE", enrollment_id)
    if row is None:
        raise NotFound(f"no enrollment {enrollment_id!r}")
    return enrollment_from_row(row)


async def _insert(conn: Connection, checked: Enrollment) -> None:
    """Insert ``checked``, expiring the open enrollment of the same org and certificate it replaces."""
    await conn.execute(
        "UPDATE enrollments SET state = 'expired', reason = 'replaced by a newer enrollment', updated_at = $1 "  # noqa: S608
        f"WHERE org_id = $2 AND sha256_fingerprint = $3 AND state IN ({_OPEN})",
        checked.created_at,
        checked.org_id,
        checked.sha256_fingerprint,
    )
    try:
        await conn.execute(_INSERT, *enrollment_values(checked))
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"enrollment {checked.enrollment_id} already exists") from None


async def _activate(
    conn: Connection,
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
        raise ConfigurationError(f"enrollment {found.enrollment_id} is for {found.org_id}, not {org.org_id}")
    if found.replaces_fingerprint is not None:
        if retire_previous_at is None:
            raise ConfigurationError("a rotation's activation says when the replaced certificate retires")
        # The chain: the certificate that signed the rotation must still be trusted, and not already
        # replaced by another rotation (one successor per certificate).
        status = await conn.execute(
            "UPDATE certificates SET retire_at = $1 WHERE org_id = $2 AND sha256_fingerprint = $3 "
            "AND state = 'active' AND retire_at IS NULL",
            float(retire_previous_at),
            found.org_id,
            found.replaces_fingerprint,
        )
        if not rowcount(status):
            raise EnrollmentStateConflict(
                f"certificate {found.replaces_fingerprint} that signed the rotation is no longer trusted, "
                "or another rotation replaced it already"
            )
    await conn.execute(_INSERT_ORG, *org_values(org, now))
    new = certificate_rows(found.org_id, [(found.certificate(), label)], now, shared=0)
    (record,) = await insert_certificates(conn, found.org_id, new, shared=False)
    row = await conn.fetchrow(
        "UPDATE enrollments SET state = 'active', updated_at = $1, decided_by = COALESCE($2, decided_by), "  # noqa: S608
        "proven_at = CASE WHEN $3 THEN $1 ELSE proven_at END "
        f"WHERE enrollment_id = $4 RETURNING {ENROLLMENT_COLUMNS}",
        now,
        decided_by,
        proven,
        found.enrollment_id,
    )
    assert row is not None  # the caller's transaction holds the row
    return enrollment_from_row(row), record


class PostgresEnrollmentStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[Connection]:
        async with self._db.transaction() as conn:
            await conn.execute(BUMP_GENERATION)
            yield conn

    async def add_enrollment(self, enrollment: Enrollment) -> Enrollment:
        checked = check_enrollment(enrollment)
        async with self._write() as conn:
            await _insert(conn, checked)
        return checked

    async def get_enrollment(self, enrollment_id: str) -> Enrollment | None:
        row = await self._db.fetchrow(f"{_SELECT} WHERE enrollment_id = $1", enrollment_id)
        return None if row is None else enrollment_from_row(row)

    async def list_enrollments(
        self, *, states: Sequence[EnrollmentState] = (), org_id: str | None = None, limit: int = 100
    ) -> Sequence[Enrollment]:
        wanted = check_states(states)
        conditions: list[str] = []
        params: list[object] = []
        if wanted:
            params.append(list(wanted))
            conditions.append(f"state = ANY(${len(params)}::text[])")
        if org_id is not None:
            params.append(canonical_org_id(org_id))
            conditions.append(f"org_id = ${len(params)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        params.append(max(0, min(limit, _MAX_PAGE)))
        rows = await self._db.fetch(
            f"{_SELECT}{where} ORDER BY created_at DESC, enrollment_id LIMIT ${len(params)}",
            *params,
        )
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
        async with self._write() as conn:
            found = await _current(conn, enrollment_id)
            if found.state not in allowed:
                raise conflict(found, allowed)
            row = await conn.fetchrow(
                "UPDATE enrollments SET state = $1, updated_at = $2, decided_by = COALESCE($3, decided_by), "  # noqa: S608
                "reason = COALESCE($4, reason), proven_at = CASE WHEN $5 THEN $2 ELSE proven_at END "
                f"WHERE enrollment_id = $6 RETURNING {ENROLLMENT_COLUMNS}",
                new_state,
                now,
                decided_by,
                note,
                proven,
                enrollment_id,
            )
        assert row is not None  # the row is locked by _current
        return enrollment_from_row(row)

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
        async with self._write() as conn:
            found = await _current(conn, enrollment_id)
            if found.state not in allowed:
                raise conflict(found, allowed)
            return await _activate(conn, found, checked_org, label, now, decided_by, proven, retire_previous_at)

    async def add_active_enrollment(
        self, enrollment: Enrollment, *, org: Org, label: str, decided_by: str, retire_previous_at: float | None
    ) -> tuple[Enrollment, CertificateRecord]:
        checked = check_enrollment(enrollment)
        if checked.state != "pending_approval":
            raise ConfigurationError("an enrollment activated as it is added is proven: pending_approval")
        checked_org = check_org(org)
        async with self._write() as conn:
            await _insert(conn, checked)
            return await _activate(
                conn, checked, checked_org, label, checked.created_at, decided_by, True, retire_previous_at
            )

    async def expire_enrollments(self, now: float) -> int:
        # Only when there is something to expire: a write (and a generation bump) otherwise for nothing.
        due = await self._db.fetchval(
            "SELECT COUNT(*) FROM enrollments WHERE state IN ('pending_proof', 'approved') AND code_expires_at < $1",
            now,
        )
        if not due:
            return 0
        async with self._write() as conn:
            status = await conn.execute(
                "UPDATE enrollments SET state = 'expired', reason = 'the enrollment code expired', updated_at = $1 "
                "WHERE state IN ('pending_proof', 'approved') AND code_expires_at < $1",
                now,
            )
        return rowcount(status)

    async def enrollment_counts(self) -> dict[str, int]:
        rows = await self._db.fetch("SELECT state, COUNT(*) AS n FROM enrollments GROUP BY state")
        return {row["state"]: int(row["n"]) for row in rows}

    async def approve_orgs(self, org_ids: Sequence[str], *, source: str = "") -> int:
        if isinstance(org_ids, str) or len(org_ids) > MAX_IMPORT:
            raise ConfigurationError(f"org ids are a list of at most {MAX_IMPORT}")
        ids = [canonical_org_id(org_id) for org_id in org_ids]
        label = check_text(source, "source")
        async with self._write() as conn:
            # One statement over arrays: a round trip per org would bound an import by the network.
            status = await conn.execute(
                "INSERT INTO approved_orgs (org_id, source, created_at) "
                "SELECT DISTINCT unnest($1::text[]), $2::text, $3::double precision ON CONFLICT (org_id) DO NOTHING",
                ids,
                label,
                time.time(),
            )
        return rowcount(status)

    async def is_org_approved(self, org_id: str) -> bool:
        found = await self._db.fetchval("SELECT 1 FROM approved_orgs WHERE org_id = $1", canonical_org_id(org_id))
        return found is not None

    async def approved_orgs(self, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        rows = await self._db.fetch(
            "SELECT org_id FROM approved_orgs WHERE org_id > $1 ORDER BY org_id LIMIT $2",
            after or "",
            max(0, min(limit, _MAX_PAGE)),
        )
        return [row["org_id"] for row in rows]

    # --- sign-ins (per-request state, not the registry: no generation bump) ---------------------------

    async def begin_sign_in(self, sign_in: SignIn) -> None:
        checked = check_sign_in(sign_in)
        await self._db.execute(
            f"INSERT INTO enrollment_sign_ins ({SIGN_IN_COLUMNS}) VALUES ({placeholders(8)})",  # noqa: S608
            *sign_in_values(checked),
            duplicate="this sign-in already exists",
        )

    async def complete_sign_in(
        self, id_hash: str, state_hash: str, *, org_id: str, user_id: str, username: str, now: float, expires_at: float
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE enrollment_sign_ins SET org_id = $1, user_id = $2, username = $3, expires_at = $4 "
            "WHERE id_hash = $5 AND state_hash = $6 AND org_id IS NULL AND expires_at > $7",
            canonical_org_id(org_id),
            user_id,
            check_text(username, "username"),
            expires_at,
            id_hash,
            state_hash,
            now,
        )
        return changed == 1

    async def get_sign_in(self, id_hash: str, *, now: float) -> SignIn | None:
        row = await self._db.fetchrow(
            f"SELECT {SIGN_IN_COLUMNS} FROM enrollment_sign_ins WHERE id_hash = $1 AND expires_at > $2",  # noqa: S608
            id_hash,
            now,
        )
        return None if row is None else sign_in_from_row(row)

    async def end_sign_in(self, id_hash: str) -> None:
        await self._db.execute("DELETE FROM enrollment_sign_ins WHERE id_hash = $1", id_hash)

    async def purge_sign_ins(self, now: float) -> int:
        return await self._db.execute("DELETE FROM enrollment_sign_ins WHERE expires_at <= $1", now)
