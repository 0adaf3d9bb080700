"""Per-request state on PostgreSQL: single-use claims, rate counters, issued and revoked tokens, sessions, the
audit log.

The same behaviour as :mod:`forcegate.stores.sqlite_state`. There is no group commit here: the server
runs concurrent requests' statements in parallel, each on its own pooled connection. What must be
atomic and can be one statement is one statement (one round trip, its own implicit transaction): a
grant's token record with its audit row, a batch of audit rows.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from forcegate.errors import ConfigurationError
from forcegate.stores import records
from forcegate.stores.models import AuditEvent, IssuedCheck, IssuedToken, Session
from forcegate.stores.postgres_db import Connection, PostgresDatabase, placeholders, rowcount
from forcegate.stores.rate_hit import RateExceeded, RateHit
from forcegate.stores.values import REVOCATION_MARGIN, check_rate_hit, checked_generation

__all__ = [
    "PostgresAuditLog",
    "PostgresGrantRecorder",
    "PostgresRateCounter",
    "PostgresReplayCache",
    "PostgresSessionStore",
    "PostgresTokenStore",
]

# ONE statement decides the claim, with the caller's clock: the insert wins when the key is new, the
# conditional update wins when the old claim has lapsed, otherwise nothing changes (0 rows). Two
# workers racing on one key cannot both win: the second waits on the first's row lock, then
# re-evaluates the condition against the row the first one wrote.
_CLAIM = (
    "INSERT INTO replay (claim_key, expires_at) VALUES ($1, $2) "
    "ON CONFLICT (claim_key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at < $3"
)
# ONE statement counts the hit and reads the new count: a second worker hitting the same window waits
# on the first's row lock, then increments the row the first one wrote.
_HIT = (
    "INSERT INTO rate_counters (counter_key, window_start, hits, expires_at) VALUES ($1, $2, 1, $3) "
    "ON CONFLICT (counter_key, window_start) DO UPDATE SET hits = rate_counters.hits + 1 RETURNING hits"
)
_REFUND = "UPDATE rate_counters SET hits = hits - 1 WHERE counter_key = $1 AND window_start = $2 AND hits > 0"
# The interpolated names are constants, never input.
_ISSUED_VALUES = placeholders(records.ISSUED_COLUMN_COUNT)
_INSERT_ISSUED = f"INSERT INTO issued_tokens ({records.ISSUED_COLUMNS}) VALUES ({_ISSUED_VALUES})"  # noqa: S608
_SELECT_ISSUED = f"SELECT {records.ISSUED_COLUMNS} FROM issued_tokens WHERE jti = $1"  # noqa: S608
# One row always: the record's MAC (NULL without a record) and the revocation, in one statement.
# The registry generation in the same statement: one round trip, one snapshot (decision 0031).
_CHECK_ISSUED = (
    "SELECT (SELECT mac FROM issued_tokens WHERE jti = $1), EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1), "
    "(SELECT generation FROM trust_generation WHERE singleton = 1)"
)
_AUDIT_VALUES = placeholders(records.AUDIT_COLUMN_COUNT)
_INSERT_AUDIT = f"INSERT INTO audit_events ({records.AUDIT_COLUMNS}) VALUES ({_AUDIT_VALUES})"  # noqa: S608
# A grant's two rows in ONE statement: the audit row is inserted only if the token record was (its
# grant key was new). "INSERT 0 1": granted; "INSERT 0 0": a token was already granted for the key.
_GRANT_ROWS = (
    f"WITH granted AS (INSERT INTO issued_tokens ({records.ISSUED_COLUMNS}, grant_key) "  # noqa: S608
    f"VALUES ({placeholders(records.ISSUED_COLUMN_COUNT + 1)}) ON CONFLICT (grant_key) DO NOTHING RETURNING 1) "
    f"INSERT INTO audit_events ({records.AUDIT_COLUMNS}) "
    f"SELECT {placeholders(records.AUDIT_COLUMN_COUNT, first=records.ISSUED_COLUMN_COUNT + 2)} FROM granted"
)
_SESSION_VALUES = placeholders(records.SESSION_COLUMN_COUNT)
_INSERT_SESSION = f"INSERT INTO sessions ({records.SESSION_COLUMNS}) VALUES ({_SESSION_VALUES})"  # noqa: S608
_SELECT_SESSION = f"SELECT {records.SESSION_COLUMNS} FROM sessions WHERE id_hash = $1 AND expires_at > $2"  # noqa: S608


class PostgresReplayCache:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def claim(self, key: str, expires_at: float, *, now: float | None = None) -> bool:
        if not isinstance(key, str) or not key:
            raise ConfigurationError("a replay key is a non-empty string")
        return await self._db.execute(_CLAIM, key, expires_at, time.time() if now is None else now) == 1

    async def purge(self, now: float) -> int:
        return await self._db.execute("DELETE FROM replay WHERE expires_at < $1", now)


class PostgresRateCounter:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def hit(self, key: str, window_start: float, window_seconds: int, *, now: float) -> int:
        check_rate_hit(key, window_start, window_seconds)
        # Not db.fetchval(): that retries a read on a fresh connection, and a retried hit counts twice.
        async with self._db.connection() as conn:
            hits = await conn.fetchval(_HIT, key, window_start, window_start + window_seconds)
        return int(hits)

    async def refund(self, key: str, window_start: float) -> None:
        await self._db.execute(_REFUND, key, window_start)

    async def purge(self, now: float) -> int:
        return await self._db.execute("DELETE FROM rate_counters WHERE expires_at < $1", now)


class PostgresGrantRecorder:
    """Rate hit + claim (+ token record + audit row) in one transaction."""

    def __init__(self, db: PostgresDatabase) -> None:
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
    ) -> bool:
        audit = records.audit_values(event)
        return await self._claim(replay_key, replay_until, now, rate, lambda conn: _write_rows(conn, token, audit))

    async def claim(self, *, replay_key: str, replay_until: float, now: float, rate: RateHit | None = None) -> bool:
        return await self._claim(replay_key, replay_until, now, rate, None)

    async def _claim(
        self,
        replay_key: str,
        replay_until: float,
        now: float,
        rate: RateHit | None,
        rows: Callable[[Connection], Awaitable[None]] | None,
    ) -> bool:
        """The rate hit, the claim and then ``rows``, in one transaction."""
        over: int | None = None
        async with self._db.transaction() as conn:
            if rate is not None:
                hits = int(await conn.fetchval(_HIT, rate.key, rate.window_start, rate.window_end))
                if hits > rate.limit:
                    over = hits  # raised once committed: the hit stays counted, nothing is claimed
            if over is None:
                if rowcount(await conn.execute(_CLAIM, replay_key, replay_until, now)) != 1:
                    if rate is not None:
                        await conn.execute(_REFUND, rate.key, rate.window_start)  # a replay spends no budget
                    return False  # already claimed: write nothing else
                if rows is not None:
                    await rows(conn)
        if over is not None:
            raise RateExceeded(over)
        return True

    async def write_records(self, token: IssuedToken, event: AuditEvent, grant_key: str) -> bool:
        """The token record and the audit row of a grant, in one transaction, without a claim.

        For a grant recorder whose claims live in another store (Redis): it claims there, then calls
        this. ``grant_key`` (the assertion's replay key) is unique among the token records: False,
        writing nothing, when a token was already granted for it — a replay the claim store forgot.
        """
        values = (*records.issued_values(token), grant_key, *records.audit_values(event))
        return await self._db.execute(_GRANT_ROWS, *values) == 1


async def _write_rows(conn: Connection, token: IssuedToken, audit: Sequence[object]) -> None:
    await conn.execute(_INSERT_ISSUED, *records.issued_values(token))
    await conn.execute(_INSERT_AUDIT, *audit)


class PostgresTokenStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def record_issued(self, token: IssuedToken) -> None:
        await self._db.execute(
            _INSERT_ISSUED,
            *records.issued_values(token),
            duplicate=f"a token with jti {token.jti!r} was already recorded",
        )

    async def get_issued(self, jti: str) -> IssuedToken | None:
        row = await self._db.fetchrow(_SELECT_ISSUED, jti)
        return None if row is None else records.issued_from_row(row)

    async def revoke(self, jti: str, expires_at: float) -> None:
        # Revoking twice keeps the later expiry: the revocation must outlive the token.
        await self._db.execute(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE SET "
            "expires_at = GREATEST(revoked_tokens.expires_at, excluded.expires_at)",
            jti,
            expires_at,
        )

    async def is_revoked(self, jti: str) -> bool:
        return await self._db.fetchval("SELECT 1 FROM revoked_tokens WHERE jti = $1", jti) is not None

    async def check_issued(self, jti: str) -> IssuedCheck:
        row = await self._db.fetchrow(_CHECK_ISSUED, jti)
        assert row is not None  # a SELECT without FROM always answers one row
        return IssuedCheck(row[0], bool(row[1]), checked_generation(row[2]))

    async def purge(self, now: float) -> int:
        async with self._db.transaction() as conn:
            issued = rowcount(await conn.execute("DELETE FROM issued_tokens WHERE expires_at < $1", now))
            # A revocation is kept for the leeway past its token's expiry (the token may still be accepted).
            expired = now - REVOCATION_MARGIN
            revoked = rowcount(await conn.execute("DELETE FROM revoked_tokens WHERE expires_at < $1", expired))
        return issued + revoked


class PostgresSessionStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create(self, session: Session) -> None:
        await self._db.execute(
            _INSERT_SESSION, *records.session_values(session), duplicate="a session with this id already exists"
        )

    async def get(self, id_hash: str, *, now: float | None = None) -> Session | None:
        row = await self._db.fetchrow(_SELECT_SESSION, id_hash, time.time() if now is None else now)
        return None if row is None else records.session_from_row(row)

    async def delete(self, id_hash: str) -> None:
        # Logging out twice is not an error.
        await self._db.execute("DELETE FROM sessions WHERE id_hash = $1", id_hash)

    async def purge(self, now: float) -> int:
        return await self._db.execute("DELETE FROM sessions WHERE expires_at < $1", now)


class PostgresAuditLog:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def append(self, events: Sequence[AuditEvent]) -> None:
        rows = records.audit_rows(events)
        if not rows:
            return
        if len(rows) == 1:
            await self._db.execute(_INSERT_AUDIT, *rows[0])
            return
        # asyncpg's executemany is atomic (one implicit transaction, one round trip): no BEGIN/COMMIT.
        async with self._db.connection() as conn:
            await conn.executemany(_INSERT_AUDIT, rows)

    async def purge(self, before: float) -> int:
        return await self._db.execute("DELETE FROM audit_events WHERE at < $1", before)

    async def query(
        self, *, org_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> Sequence[AuditEvent]:
        """Newest first (by id, i.e. by order of writing); ``limit`` is capped at 1000."""
        sql, params = records.audit_select(org_id=org_id, limit=limit, before_id=before_id, mark=lambda n: f"${n}")
        return [records.audit_from_row(row) for row in await self._db.fetch(sql, *params)]
