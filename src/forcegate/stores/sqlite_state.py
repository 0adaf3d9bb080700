"""Per-request state on SQLite: single-use claims, rate counters, issued and revoked tokens, sessions, the audit log."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import cast

from forcegate.errors import ConfigurationError
from forcegate.stores.models import AuditEvent, IssuedCheck, IssuedToken, Session
from forcegate.stores.rate_hit import RateExceeded, RateHit
from forcegate.stores.records import (
    AUDIT_COLUMN_COUNT,
    AUDIT_COLUMNS,
    ISSUED_COLUMN_COUNT,
    ISSUED_COLUMNS,
    SESSION_COLUMN_COUNT,
    SESSION_COLUMNS,
    audit_from_row,
    audit_rows,
    audit_select,
    audit_values,
    issued_from_row,
    issued_values,
    session_from_row,
    session_values,
)
from forcegate.stores.registry_moved import RegistryMoved
from forcegate.stores.sqlite_db import Row, SqliteDatabase, Tally
from forcegate.stores.sqlite_trust import GENERATION
from forcegate.stores.values import REVOCATION_MARGIN, check_rate_hit, checked_generation

__all__ = [
    "SqliteAuditLog",
    "SqliteGrantRecorder",
    "SqliteRateCounter",
    "SqliteReplayCache",
    "SqliteSessionStore",
    "SqliteTokenStore",
]

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
        return await self._db.execute("DELETE FROM replay WHERE expires_at < ?", (now,))


def _counted(_conn: sqlite3.Connection, hits: int) -> int:
    # The count is the batch's: ONE upsert per counter adds the hits and reads the new count
    # (RETURNING: SQLite 3.35+) inside the write lock, so two workers never read the same count.
    return hits


class SqliteRateCounter:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def hit(self, key: str, window_start: float, window_seconds: int, *, now: float) -> int:
        check_rate_hit(key, window_start, window_seconds)
        # Grouped with the other writes of the same moment, and the hits on one counter added by one
        # statement for the whole batch (SqliteDatabase.execute_tallied).
        return await self._db.execute_tallied(_counted, Tally(key, window_start, window_start + window_seconds))

    async def refund(self, key: str, window_start: float) -> None:
        await self._db.execute_grouped(_REFUND, (key, window_start))

    async def purge(self, now: float) -> int:
        return await self._db.execute("DELETE FROM rate_counters WHERE expires_at < ?", (now,))


_REFUND = "UPDATE rate_counters SET hits = hits - 1 WHERE counter_key = ? AND window_start = ? AND hits > 0"

# The interpolated names are constants, never input.
_INSERT_ISSUED = f"INSERT INTO issued_tokens ({ISSUED_COLUMNS}) VALUES ({', '.join('?' * ISSUED_COLUMN_COUNT)})"  # noqa: S608
_SELECT_ISSUED = f"SELECT {ISSUED_COLUMNS} FROM issued_tokens WHERE jti = ?"  # noqa: S608
# One row always: the record's MAC (NULL without a record) and the revocation, in one statement.
# The registry generation in the same statement: one read, one snapshot, for every API call (decision 0031).
_CHECK_ISSUED = (
    "SELECT (SELECT mac FROM issued_tokens WHERE jti = ?1), EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?1), "
    "(SELECT generation FROM trust_generation)"
)
_INSERT_AUDIT = f"INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES ({', '.join('?' * AUDIT_COLUMN_COUNT)})"  # noqa: S608
_INSERT_SESSION = f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({', '.join('?' * SESSION_COLUMN_COUNT)})"  # noqa: S608
_SELECT_SESSION = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = ? AND expires_at > ?"  # noqa: S608


class SqliteGrantRecorder:
    """Rate hit + claim (+ token record + audit row) in one unit of one (group-committed) transaction."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def record_grant(
        self,
        *,
        replay_key: str,
        replay_until: float,
        token: IssuedToken,
        event: AuditEvent,
        now: float,
        rate: RateHit | None = None,
        generation: int | None = None,
    ) -> bool:
        issued = issued_values(token)
        audit = audit_values(event)

        def rows(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT_ISSUED, issued)
            conn.execute(_INSERT_AUDIT, audit)

        return await self._claim(replay_key, replay_until, now, rate, generation, rows)

    async def claim(
        self,
        *,
        replay_key: str,
        replay_until: float,
        now: float,
        rate: RateHit | None = None,
        generation: int | None = None,
        event: AuditEvent | None = None,
    ) -> bool:
        if event is None:
            return await self._claim(replay_key, replay_until, now, rate, generation, None)
        audit = audit_values(event)

        def row(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT_AUDIT, audit)

        return await self._claim(replay_key, replay_until, now, rate, generation, row)

    async def _claim(
        self,
        replay_key: str,
        replay_until: float,
        now: float,
        rate: RateHit | None,
        generation: int | None,
        rows: Callable[[sqlite3.Connection], None] | None,
    ) -> bool:
        """The generation check, the rate hit, the claim and then ``rows``, in one unit of the group commit."""
        moved: list[int] = []

        def unit(conn: sqlite3.Connection, hits: int = 0) -> int:
            # 1 granted, 0 a replay (or the registry moved: ``moved``), -hits over the rate limit (a
            # unit returns; it never raises inside the group-commit transaction it shares with other
            # requests). ``hits``: the window's count with this grant's hit, counted by the batch
            # (SqliteDatabase.execute_tallied). Inside the write lock the generation cannot move.
            if generation is not None:
                current = checked_generation(conn.execute(GENERATION).fetchone()[0])
                if current != generation:
                    moved.append(current)
                    if rate is not None:
                        conn.execute(_REFUND, (rate.key, rate.window_start))  # nothing was decided
                    return 0
            if rate is not None and hits > rate.limit:
                return -hits  # counted; nothing claimed
            if conn.execute(_CLAIM, (replay_key, replay_until, now)).rowcount != 1:
                if rate is not None:
                    conn.execute(_REFUND, (rate.key, rate.window_start))  # a replay spends no budget
                return 0  # already claimed: write nothing else
            if rows is not None:
                rows(conn)
            return 1

        if rate is None:
            outcome = await self._db.execute_grouped(unit)
        else:
            outcome = await self._db.execute_tallied(unit, Tally(rate.key, rate.window_start, rate.window_end))
        if moved:
            raise RegistryMoved(moved[0])
        if outcome < 0:
            raise RateExceeded(-outcome)
        return outcome == 1


class SqliteTokenStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def record_issued(self, token: IssuedToken) -> None:
        await self._db.execute_grouped(
            _INSERT_ISSUED,
            issued_values(token),
            duplicate=f"a token with jti {token.jti!r} was already recorded",
        )

    async def get_issued(self, jti: str) -> IssuedToken | None:
        row = self._db.read_one(_SELECT_ISSUED, (jti,))
        return None if row is None else issued_from_row(row)

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

    async def check_issued(self, jti: str) -> IssuedCheck:
        mac, revoked, generation = cast(Row, self._db.read_one(_CHECK_ISSUED, (jti,)))
        return IssuedCheck(mac, bool(revoked), checked_generation(generation))

    async def purge(self, now: float) -> int:
        async with self._db.write() as conn:
            issued = conn.execute("DELETE FROM issued_tokens WHERE expires_at < ?", (now,)).rowcount
            # A revocation is kept for the leeway past its token's expiry (the token may still be accepted).
            revoked = conn.execute(
                "DELETE FROM revoked_tokens WHERE expires_at < ?", (now - REVOCATION_MARGIN,)
            ).rowcount
        return issued + revoked


class SqliteSessionStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def create(self, session: Session) -> None:
        await self._db.execute_grouped(
            _INSERT_SESSION,
            session_values(session),
            duplicate="a session with this id already exists",
        )

    async def get(self, id_hash: str, *, now: float | None = None) -> Session | None:
        row = self._db.read_one(_SELECT_SESSION, (id_hash, time.time() if now is None else now))
        return None if row is None else session_from_row(row)

    async def delete(self, id_hash: str) -> None:
        # Logging out twice is not an error.
        await self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    async def purge(self, now: float) -> int:
        return await self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))


class SqliteAuditLog:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def append(self, events: Sequence[AuditEvent]) -> None:
        rows = audit_rows(events)
        if not rows:
            return
        await self._db.execute_grouped(_INSERT_AUDIT, rows, many=True)

    async def purge(self, before: float) -> int:
        return await self._db.execute("DELETE FROM audit_events WHERE at < ?", (before,))

    async def query(
        self, *, org_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> Sequence[AuditEvent]:
        """Newest first (by id, i.e. by order of writing); ``limit`` is capped at 1000."""
        sql, params = audit_select(org_id=org_id, limit=limit, before_id=before_id, mark=lambda _: "?")
        rows = self._db.read_all(sql, params)
        return [audit_from_row(row) for row in rows]
