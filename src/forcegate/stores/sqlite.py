"""The embedded default backend: every store on one SQLite file (``sqlite:///PATH``).

See :mod:`forcegate.stores.sqlite_db` for how the connection is set up and shared between
processes, and docs/decisions/0006-store-layout.md for why.
"""

from __future__ import annotations

from collections.abc import Mapping

from forcegate.stores import migrate as migrations
from forcegate.stores.bundle import Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.key_check import KEY_CHECK_NAME, ensure_key_check
from forcegate.stores.key_digests import KEY_DIGEST_VERSION, backfill_sqlite
from forcegate.stores.migrate import MigratePolicy
from forcegate.stores.sqlite_console import SqliteConsoleStore
from forcegate.stores.sqlite_db import SqliteDatabase
from forcegate.stores.sqlite_enrollments import SqliteEnrollmentStore
from forcegate.stores.sqlite_keys import SqliteServiceKeyStore
from forcegate.stores.sqlite_notifications import SqliteNotificationStore
from forcegate.stores.sqlite_state import (
    SqliteAuditLog,
    SqliteGrantRecorder,
    SqliteRateCounter,
    SqliteReplayCache,
    SqliteSessionStore,
    SqliteTokenStore,
)
from forcegate.stores.sqlite_trust import SqliteTrustStore

__all__ = ["open_sqlite_stores"]


async def open_sqlite_stores(path: str, *, box: SecretBox, migrate: MigratePolicy = "upgrade") -> Stores:
    """Open the database at ``path`` (created with its directory if missing) and return its stores.

    ``migrate``: what to do with an outdated schema (:data:`~forcegate.stores.migrate.MigratePolicy`);
    a schema the policy refuses is a :class:`ConfigurationError` naming both versions. A database
    whose secrets were sealed with another key than ``box``'s is refused here, at start, rather than
    on the first request.
    """
    db = SqliteDatabase.open(path)
    try:
        await _prepare(db, box, migrate=migrate)
        db.serve_from_event_loop()
    except BaseException:
        db.close()
        raise

    async def check() -> Mapping[str, str]:
        return {"database": await db.health()}

    async def close() -> None:
        db.close()

    return Stores(
        trust=SqliteTrustStore(db, box),
        replay=SqliteReplayCache(db),
        tokens=SqliteTokenStore(db),
        sessions=SqliteSessionStore(db),
        audit=SqliteAuditLog(db),
        keys=SqliteServiceKeyStore(db, box),
        grants=SqliteGrantRecorder(db),
        rates=SqliteRateCounter(db),
        enrollments=SqliteEnrollmentStore(db),
        console=SqliteConsoleStore(db),
        notifications=SqliteNotificationStore(db),
        check=check,
        close=close,
    )


async def _prepare(db: SqliteDatabase, box: SecretBox, *, migrate: MigratePolicy) -> None:
    with db.locked() as conn:
        if migrations.should_upgrade(migrate, migrations.current_version(conn), database=db.path):
            migrations.upgrade(conn)
        if migrations.current_version(conn) >= KEY_DIGEST_VERSION:
            backfill_sqlite(conn)

    async def read() -> str | None:
        row = db.read_one("SELECT value FROM store_meta WHERE name = ?", (KEY_CHECK_NAME,))
        return None if row is None else str(row[0])

    async def insert(sealed: str) -> None:
        await db.execute(
            "INSERT INTO store_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (KEY_CHECK_NAME, sealed)
        )

    await ensure_key_check(box, read=read, insert=insert, database=db.path)
