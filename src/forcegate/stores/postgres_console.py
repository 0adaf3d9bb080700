"""The console's state and queries on PostgreSQL (:class:`~forcegate.stores.protocols.ConsoleStore`).

The same behaviour as :mod:`forcegate.stores.sqlite_console`, the same queries
(:mod:`forcegate.stores.console_rows`). Not part of the trust registry: no generation bump.
"""

from __future__ import annotations

from collections.abc import Sequence

from forcegate.errors import NotFound
from forcegate.stores import console_rows as rows
from forcegate.stores.console_rows import (
    ActivityRow,
    AuditFilter,
    ConsoleSession,
    MigrationCategory,
    MigrationCounts,
    MigrationOrg,
    Operator,
    OrgSearch,
    SignInFailures,
)
from forcegate.stores.models import AuditEvent, Org
from forcegate.stores.postgres_db import PostgresDatabase, rowcount
from forcegate.stores.records import audit_from_row
from forcegate.stores.values import check_text, org_from_row

__all__ = ["PostgresConsoleStore"]


def _mark(n: int) -> str:
    return f"${n}"


class PostgresConsoleStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    # --- operators ------------------------------------------------------------------------------------

    async def add_operator(self, operator: Operator) -> None:
        name = rows.check_operator_name(operator.name)
        await self._db.execute(
            "INSERT INTO console_operators (name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4)",
            name,
            operator.password_hash,
            operator.created_at,
            operator.updated_at,
            duplicate=f"operator {name!r} already exists",
        )

    async def set_operator_password(self, name: str, password_hash: str, *, now: float) -> None:
        changed = await self._db.execute(
            "UPDATE console_operators SET password_hash = $1, updated_at = $2 WHERE name = $3", password_hash, now, name
        )
        if not changed:
            raise NotFound(f"no operator {name!r}")

    async def get_operator(self, name: str) -> Operator | None:
        row = await self._db.fetchrow(
            "SELECT name, password_hash, created_at, updated_at FROM console_operators WHERE name = $1", name
        )
        return (
            None if row is None else Operator(name=row[0], password_hash=row[1], created_at=row[2], updated_at=row[3])
        )

    async def list_operators(self) -> Sequence[Operator]:
        found = await self._db.fetch(
            "SELECT name, password_hash, created_at, updated_at FROM console_operators ORDER BY name"
        )
        return [Operator(name=r[0], password_hash=r[1], created_at=r[2], updated_at=r[3]) for r in found]

    async def delete_operator(self, name: str) -> None:
        async with self._db.transaction() as conn:
            if not rowcount(await conn.execute("DELETE FROM console_operators WHERE name = $1", name)):
                raise NotFound(f"no operator {name!r}")
            await conn.execute("DELETE FROM console_sessions WHERE operator = $1 AND credential = 'password'", name)

    # --- sessions -------------------------------------------------------------------------------------

    async def create_session(self, session: ConsoleSession) -> None:
        await self._db.execute(
            f"INSERT INTO console_sessions ({rows.SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)",  # noqa: S608
            session.id_hash,
            check_text(session.operator, "operator", allow_empty=False),
            session.credential,
            session.client,
            session.created_at,
            session.expires_at,
            duplicate="this session already exists",
        )

    async def get_session(self, id_hash: str, *, now: float) -> ConsoleSession | None:
        row = await self._db.fetchrow(
            f"SELECT {rows.SESSION_COLUMNS} FROM console_sessions WHERE id_hash = $1 AND expires_at > $2",  # noqa: S608
            id_hash,
            now,
        )
        return None if row is None else rows.session_from_row(row)

    async def delete_session(self, id_hash: str) -> None:
        await self._db.execute("DELETE FROM console_sessions WHERE id_hash = $1", id_hash)

    # --- sign-in failures -----------------------------------------------------------------------------

    async def count_failure(self, key: str, *, now: float, window: float) -> SignInFailures:
        row = await self._db.fetchrow(rows.COUNT_FAILURE, key, now, now - window)
        assert row is not None
        return SignInFailures(int(row[0]), row[1], row[2])

    async def lock(self, key: str, until: float) -> None:
        await self._db.execute(
            "UPDATE console_sign_in_failures SET locked_until = $1 WHERE failure_key = $2 "
            "AND (locked_until IS NULL OR locked_until < $1)",
            until,
            key,
        )

    async def failures(self, key: str) -> SignInFailures | None:
        row = await self._db.fetchrow(
            "SELECT failures, window_start, locked_until FROM console_sign_in_failures WHERE failure_key = $1", key
        )
        return None if row is None else SignInFailures(int(row[0]), row[1], row[2])

    async def clear_failures(self, key: str) -> None:
        await self._db.execute("DELETE FROM console_sign_in_failures WHERE failure_key = $1", key)

    async def purge(self, now: float) -> int:
        async with self._db.transaction() as conn:
            sessions = rowcount(await conn.execute("DELETE FROM console_sessions WHERE expires_at <= $1", now))
            counters = rowcount(
                await conn.execute(
                    "DELETE FROM console_sign_in_failures WHERE window_start < $1 "
                    "AND (locked_until IS NULL OR locked_until < $2)",
                    now - rows.FAILURE_MEMORY,
                    now,
                )
            )
        return sessions + counters

    # --- the pages' queries ---------------------------------------------------------------------------

    async def search_orgs(self, search: OrgSearch, *, limit: int = 50, after: str | None = None) -> Sequence[Org]:
        sql, params = rows.org_search_select(search, limit=limit, after=after, mark=_mark)
        return [org_from_row(row) for row in await self._db.fetch(sql, *params)]

    async def count_orgs(self, search: OrgSearch | None = None) -> int:
        sql, params = rows.org_count_select(search or rows.EVERY_ORG, mark=_mark)
        return int(await self._db.fetchval(sql, *params) or 0)

    async def registry_counts(self) -> dict[str, int]:
        row = await self._db.fetchrow(rows.REGISTRY_COUNTS)
        assert row is not None
        return dict(zip(("apps", "orgs", "certificates"), (int(value) for value in row), strict=True))

    async def search_audit(
        self, given: AuditFilter, *, limit: int = 50, before_id: int | None = None
    ) -> Sequence[AuditEvent]:
        sql, params = rows.audit_search_select(given, limit=limit, before_id=before_id, mark=_mark)
        return [audit_from_row(row) for row in await self._db.fetch(sql, *params)]

    async def activity(self, since: float, bucket_seconds: int) -> Sequence[ActivityRow]:
        sql, params = rows.activity_select(since, bucket_seconds, mark=_mark, dialect="postgresql")
        return [rows.activity_from_row(row) for row in await self._db.fetch(sql, *params)]

    async def refusal_reasons(self, since: float, *, limit: int = 10) -> Sequence[tuple[str, int]]:
        sql, params = rows.reasons_select(since, limit, mark=_mark)
        return rows.reasons_from_rows(await self._db.fetch(sql, *params))

    async def migration_counts(self, since: float) -> MigrationCounts:
        sql, params = rows.migration_counts_select(since, mark=_mark)
        return rows.counts_from_row(await self._db.fetchrow(sql, *params))

    async def migration_orgs(
        self, since: float, category: MigrationCategory, *, limit: int = 100, after: str | None = None
    ) -> Sequence[MigrationOrg]:
        sql, params = rows.migration_orgs_select(since, category, limit=limit, after=after, mark=_mark)
        return [rows.migration_org_from_row(row) for row in await self._db.fetch(sql, *params)]
