"""Per-request state on SQLite: single-use claims, issued and revoked tokens, sessions, the audit log."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence

from forcegate.core.identity import Identity
from forcegate.errors import ConfigurationError
from forcegate.stores.models import AuditEvent, IssuedToken, Session
from forcegate.stores.sqlite_db import SqliteDatabase

__all__ = [
    "MAX_AUDIT_PAGE",
    "SqliteAuditLog",
    "SqliteGrantRecorder",
    "SqliteReplayCache",
    "SqliteSessionStore",
    "SqliteTokenStore",
]

MAX_AUDIT_PAGE = 1000

# ONE statement decides the claim, so two workers racing on the same key cannot both win: the
# insert wins when the key is new, the conditional update wins when the old claim has lapsed, and
# otherwise nothing changes (0 rows). A single DML statement takes the write lock before it reads,
# so autocommit is as safe here as BEGIN IMMEDIATE and costs one statement less.
_CLAIM = (
    "INSERT INTO replay (claim_key, expires_at) VALUES (?, ?) "
    "ON CONFLICT (claim_key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at < ?"
)


class SqliteReplayCache:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def claim(self, key: str, expires_at: float, *, now: float | None = None) -> bool:
        if not isinstance(key, str) or not key:
            raise ConfigurationError("a replay key is a non-empty string")
        return await self._db.execute_grouped(_CLAIM, (key, expires_at, time.time() if now is None else now)) == 1

    async def purge(self, now: float) -> int:
        return self._db.execute("DELETE FROM replay WHERE expires_at < ?", (now,))


_ISSUED_COLUMNS = "jti, org_id, user_id, client_id, scope, issued_at, expires_at"
# The interpolated names are the module's constants, never input.
_INSERT_ISSUED = f"INSERT INTO issued_tokens ({_ISSUED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_SELECT_ISSUED = f"SELECT {_ISSUED_COLUMNS} FROM issued_tokens WHERE jti = ?"  # noqa: S608


class SqliteGrantRecorder:
    """Claim + token record + audit row in one unit of one (group-committed) transaction."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def record_grant(
        self, *, replay_key: str, replay_until: float, token: IssuedToken, event: AuditEvent, now: float
    ) -> bool:
        issued = (
            token.jti,
            token.org_id,
            token.user_id,
            token.client_id,
            token.scope,
            token.issued_at,
            token.expires_at,
        )
        audit = _audit_row(event)

        def unit(conn: sqlite3.Connection) -> int:
            if conn.execute(_CLAIM, (replay_key, replay_until, now)).rowcount != 1:
                return 0  # already claimed: write nothing else
            conn.execute(_INSERT_ISSUED, issued)
            conn.execute(_INSERT_AUDIT, audit)
            return 1

        return await self._db.execute_grouped(unit) == 1


class SqliteTokenStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def record_issued(self, token: IssuedToken) -> None:
        await self._db.execute_grouped(
            _INSERT_ISSUED,
            (token.jti, token.org_id, token.user_id, token.client_id, token.scope, token.issued_at, token.expires_at),
            duplicate=f"a token with jti {token.jti!r} was already recorded",
        )

    async def get_issued(self, jti: str) -> IssuedToken | None:
        row = self._db.read_one(_SELECT_ISSUED, (jti,))
        if row is None:
            return None
        jti_, org_id, user_id, client_id, scope, issued_at, expires_at = row
        return IssuedToken(
            jti=jti_,
            org_id=org_id,
            user_id=user_id,
            client_id=client_id,
            scope=scope,
            issued_at=issued_at,
            expires_at=expires_at,
        )

    async def revoke(self, jti: str, expires_at: float) -> None:
        # Revoking twice keeps the later expiry: the revocation must outlive the token.
        await self._db.execute_grouped(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE SET expires_at = "
            "CASE WHEN excluded.expires_at > revoked_tokens.expires_at THEN excluded.expires_at "
            "ELSE revoked_tokens.expires_at END",
            (jti, expires_at),
        )

    async def is_revoked(self, jti: str) -> bool:
        return self._db.read_one("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)) is not None

    async def purge(self, now: float) -> int:
        with self._db.transaction() as conn:
            issued = conn.execute("DELETE FROM issued_tokens WHERE expires_at < ?", (now,)).rowcount
            revoked = conn.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (now,)).rowcount
        return issued + revoked


class SqliteSessionStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def create(self, session: Session) -> None:
        identity = json.dumps(session.identity.to_dict(), separators=(",", ":"))
        await self._db.execute_grouped(
            "INSERT INTO sessions (id_hash, identity, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (session.id_hash, identity, session.created_at, session.expires_at),
            duplicate="a session with this id already exists",
        )

    async def get(self, id_hash: str, *, now: float | None = None) -> Session | None:
        row = self._db.read_one(
            "SELECT identity, created_at, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?",
            (id_hash, time.time() if now is None else now),
        )
        if row is None:
            return None
        return Session(
            id_hash=id_hash, identity=Identity.from_dict(json.loads(row[0])), created_at=row[1], expires_at=row[2]
        )

    async def delete(self, id_hash: str) -> None:
        # Logging out twice is not an error.
        self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    async def purge(self, now: float) -> int:
        return self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))


_AUDIT_COLUMNS = "at, endpoint, credential, result, code, detail, org_id, user_id, subject, issuer, client"
_INSERT_AUDIT = f"INSERT INTO audit_events ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608


def _audit_row(e: AuditEvent) -> tuple[object, ...]:
    return (
        e.at,
        e.endpoint,
        e.credential,
        e.result,
        e.code,
        e.detail,
        e.org_id,
        e.user_id,
        e.subject,
        e.issuer,
        e.client,
    )


class SqliteAuditLog:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def append(self, events: Sequence[AuditEvent]) -> None:
        rows = [_audit_row(event) for event in events]
        if any(row[3] not in ("allowed", "denied") for row in rows):
            raise ConfigurationError("an audit event's result is 'allowed' or 'denied'")
        if not rows:
            return
        await self._db.execute_grouped(_INSERT_AUDIT, rows, many=True)

    async def query(
        self, *, org_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> Sequence[AuditEvent]:
        """Newest first (by id, i.e. by order of writing); ``limit`` is capped at 1000."""
        limit = max(0, min(limit, MAX_AUDIT_PAGE))
        conditions: list[str] = []
        params: list[object] = []
        if org_id is not None:
            conditions.append("org_id = ?")
            params.append(org_id)
        if before_id is not None:
            conditions.append("id < ?")
            params.append(before_id)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        rows = self._db.read_all(
            f"SELECT id, {_AUDIT_COLUMNS} FROM audit_events {where}ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [
            AuditEvent(
                id=r[0],
                at=r[1],
                endpoint=r[2],
                credential=r[3],
                result=r[4],
                code=r[5],
                detail=r[6],
                org_id=r[7],
                user_id=r[8],
                subject=r[9],
                issuer=r[10],
                client=r[11],
            )
            for r in rows
        ]
