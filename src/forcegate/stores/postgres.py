"""The scale-out backend: every store on one PostgreSQL database (``postgresql://…``), shared by the
workers of every host.

See :mod:`forcegate.stores.postgres_db` for the pool, its error mapping and how it recovers when the
server restarts.
"""

from __future__ import annotations

from collections.abc import Mapping

from forcegate.stores import migrate as migrations
from forcegate.stores.bundle import Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.key_check import KEY_CHECK_NAME, ensure_key_check
from forcegate.stores.key_digests import KEY_DIGEST_VERSION, backfill_postgres
from forcegate.stores.migrate import MigratePolicy
from forcegate.stores.postgres_console import PostgresConsoleStore
from forcegate.stores.postgres_db import PostgresDatabase
from forcegate.stores.postgres_enrollments import PostgresEnrollmentStore
from forcegate.stores.postgres_keys import PostgresServiceKeyStore
from forcegate.stores.postgres_notifications import PostgresNotificationStore
from forcegate.stores.postgres_state import (
    PostgresAuditLog,
    PostgresGrantRecorder,
    PostgresRateCounter,
    PostgresReplayCache,
    PostgresSessionStore,
    PostgresTokenStore,
)
from forcegate.stores.postgres_trust import PostgresTrustStore

__all__ = ["open_postgres_stores"]


async def open_postgres_stores(
    url: str, *, box: SecretBox, migrate: MigratePolicy = "upgrade", pool_size: int = 10
) -> Stores:
    """Connect to the database at ``url`` and return its stores.

    ``migrate``: what to do with an outdated schema (:data:`~forcegate.stores.migrate.MigratePolicy`).
    A server that does not answer is :class:`~forcegate.errors.StoreUnavailable`; a schema the policy
    refuses, or secrets sealed with another key than ``box``'s, a :class:`ConfigurationError`. The
    schema lives in the first schema of the connection's ``search_path`` (``?search_path=…`` in the URL).
    """
    db = await PostgresDatabase.open(url, pool_size=pool_size)
    try:
        await _prepare(db, box, migrate=migrate)
    except BaseException:
        await db.close()
        raise

    async def check() -> Mapping[str, str]:
        return {"database": await db.health()}

    return Stores(
        trust=PostgresTrustStore(db, box),
        replay=PostgresReplayCache(db),
        tokens=PostgresTokenStore(db),
        sessions=PostgresSessionStore(db),
        audit=PostgresAuditLog(db),
        keys=PostgresServiceKeyStore(db, box),
        grants=PostgresGrantRecorder(db),
        rates=PostgresRateCounter(db),
        enrollments=PostgresEnrollmentStore(db),
        console=PostgresConsoleStore(db),
        notifications=PostgresNotificationStore(db),
        check=check,
        close=db.close,
    )


async def _prepare(db: PostgresDatabase, box: SecretBox, *, migrate: MigratePolicy) -> None:
    async with db.connection() as conn:
        current = await migrations.postgres_current_version(conn)
        if migrations.should_upgrade(migrate, current, database=db.where):
            await migrations.postgres_upgrade(conn)
        if await migrations.postgres_current_version(conn) >= KEY_DIGEST_VERSION:
            await backfill_postgres(conn)

    async def read() -> str | None:
        found = await db.fetchval("SELECT value FROM store_meta WHERE name = $1", KEY_CHECK_NAME)
        return None if found is None else str(found)

    async def insert(sealed: str) -> None:
        await db.execute(
            "INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", KEY_CHECK_NAME, sealed
        )

    await ensure_key_check(box, read=read, insert=insert, database=db.where)
