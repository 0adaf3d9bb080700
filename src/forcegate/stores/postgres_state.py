"""Per-request state on PostgreSQL: single-use claims, rate counters, issued and revoked tokens, sessions, the
audit log.

The same behaviour as :mod:`forcegate.stores.sqlite_state`. There is no group commit here: the server
runs concurrent requests' statements in parallel, each on its own pooled connection. What must be
atomic and can be one statement is one statement (one round trip, its own implicit transaction): a
grant's token record with its audit row, a batch of audit rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

from forcegate.errors import ConfigurationError
from forcegate.stores import records
from forcegate.stores.models import AuditEvent, IssuedCheck, IssuedToken, Session
from forcegate.stores.postgres_db import PostgresDatabase, placeholders, rowcount
from forcegate.stores.postgres_trust import GENERATION
from forcegate.stores.rate_hit import RateExceeded, RateHit
from forcegate.stores.registry_moved import RegistryMoved
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
# A grant in ONE statement (one round trip, its own implicit transaction; decision 0035): the registry
# generation checked (decision 0036), the rate hit (when counted), the single-use claim if the hit is
# within the limit, then the token record and its audit row if the claim won and no token was granted
# for the assertion before (its grant key is unique: a second, durable guard). PostgreSQL runs every
# data-modifying WITH exactly once, on one snapshot; each insert here takes its row from the one before,
# so nothing is written past the first that writes nothing. The answer: the window's count (NULL when
# not counted or not current), whether the claim won, whether the rows were written, the generation.
# The parameters of INSERT … SELECT carry their types (they are not bound to a column as in VALUES).
_ISSUED_TYPES = ("text", "text", "text", "text", "text", "float8", "float8", "text", "text")  # + grant_key
_AUDIT_TYPES = ("float8", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "int4")


def _typed(types: Sequence[str], first: int) -> str:
    return ", ".join(f"${n}::{kind}" for n, kind in enumerate(types, start=first))


def _grant_statement(*, counted: bool, rows: Literal["none", "audit", "grant"]) -> str:
    """The statement of a claim (``rows``: with a direct JWT's audit row, or with a grant's token record
    and audit row). Parameters: ``$1`` key, ``$2`` until, ``$3`` now, ``$4`` the generation decided at
    (NULL: unchecked); if ``counted``, ``$5`` counter, ``$6`` window start, ``$7`` its end, ``$8``
    limit; then the record's values and the grant key (``grant``), then the audit row's. The
    interpolated names and types are constants, never input."""
    current = "FROM registry WHERE $4::int8 IS NULL OR generation = $4::int8"
    parts = [f"registry AS ({GENERATION})"]
    if counted:
        parts.append(
            "hit AS (INSERT INTO rate_counters (counter_key, window_start, hits, expires_at) "
            f"SELECT $5::text, $6::float8, 1, $7::float8 {current} "
            "ON CONFLICT (counter_key, window_start) DO UPDATE SET hits = rate_counters.hits + 1 RETURNING hits)"
        )
        claimed = "FROM hit WHERE hits <= $8::int8"
    else:
        claimed = current
    parts.append(
        f"claim AS (INSERT INTO replay (claim_key, expires_at) SELECT $1::text, $2::float8 {claimed} "
        "ON CONFLICT (claim_key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at < $3 "
        "RETURNING 1)"
    )
    written, audited, first = "claim", "claim", 9 if counted else 5
    if rows == "grant":
        parts.append(
            f"granted AS (INSERT INTO issued_tokens ({records.ISSUED_COLUMNS}, grant_key) "  # noqa: S608
            f"SELECT {_typed(_ISSUED_TYPES, first)} FROM claim ON CONFLICT (grant_key) DO NOTHING RETURNING 1)"
        )
        written, audited, first = "granted", "granted", first + len(_ISSUED_TYPES)
    if rows != "none":
        parts.append(
            f"audit AS (INSERT INTO audit_events ({records.AUDIT_COLUMNS}) "  # noqa: S608
            f"SELECT {_typed(_AUDIT_TYPES, first)} FROM {audited})"
        )
    hits = "(SELECT hits FROM hit)" if counted else "NULL::int8"
    return (
        f"WITH {', '.join(parts)} "  # noqa: S608
        f"SELECT {hits}, (SELECT count(*) FROM claim), (SELECT count(*) FROM {written}), "
        "(SELECT generation FROM registry)"
    )


# By (counted, rows).
_STATEMENTS = {
    (counted, rows): _grant_statement(counted=counted, rows=rows)
    for counted in (False, True)
    for rows in ("none", "audit", "grant")
}

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
        # A write (never retried): a retried hit would count twice.
        row = await self._db.write_row(_HIT, key, window_start, window_start + window_seconds)
        assert row is not None  # RETURNING of an upsert always answers one row
        return int(row[0])

    async def refund(self, key: str, window_start: float) -> None:
        await self._db.execute(_REFUND, key, window_start)

    async def purge(self, now: float) -> int:
        return await self._db.execute("DELETE FROM rate_counters WHERE expires_at < $1", now)


class PostgresGrantRecorder:
    """Generation check + rate hit + claim (+ token record + audit row) in ONE statement (decisions 0035, 0036)."""

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
        generation: int | None = None,
    ) -> bool:
        # The grant key is the claim's: the token record remembers which assertion it was granted for.
        rows = (*records.issued_values(token), replay_key, *records.audit_values(event))
        sql = _STATEMENTS[rate is not None, "grant"]
        return await self._claim(sql, replay_key, replay_until, now, rate, generation, rows)

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
        audit = () if event is None else records.audit_values(event)
        sql = _STATEMENTS[rate is not None, "none" if event is None else "audit"]
        return await self._claim(sql, replay_key, replay_until, now, rate, generation, audit)

    async def _claim(
        self,
        sql: str,
        replay_key: str,
        replay_until: float,
        now: float,
        rate: RateHit | None,
        generation: int | None,
        rows: Sequence[object],
    ) -> bool:
        """Run a :func:`_grant_statement`: True when it claimed (and wrote ``rows``).

        At another generation nothing is done (:class:`RegistryMoved`). Past the limit the hit stays
        counted and nothing is claimed (:class:`RateExceeded`). A replay (the claim lost, or the
        assertion already granted) gives its hit back: a second statement, paid only by replays, since
        one statement cannot change the counter's row twice.
        """
        counted = () if rate is None else (rate.key, rate.window_start, rate.window_end, rate.limit)
        row = await self._db.write_row(sql, replay_key, replay_until, now, generation, *counted, *rows)
        assert row is not None  # a SELECT without FROM always answers one row
        hits, claimed, written, current = row
        if generation is not None and current != generation:
            raise RegistryMoved(checked_generation(current))
        if rate is not None and hits > rate.limit:
            raise RateExceeded(hits)
        if claimed and written:
            return True
        if rate is not None:
            await self._db.execute(_REFUND, rate.key, rate.window_start)  # a replay spends no budget
        return False


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
