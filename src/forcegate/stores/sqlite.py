"""The embedded default backend: every store on one SQLite file (``sqlite:///PATH``).

See :mod:`forcegate.stores.sqlite_db` for how the connection is set up and shared between
processes, and docs/decisions/0006-store-layout.md for why.
"""

from __future__ import annotations

from collections.abc import Mapping

from forcegate.errors import ConfigurationError
from forcegate.stores import migrate as migrations
from forcegate.stores.bundle import Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.sqlite_db import SqliteDatabase
from forcegate.stores.sqlite_keys import SqliteServiceKeyStore
from forcegate.stores.sqlite_state import (
    SqliteAuditLog,
    SqliteGrantRecorder,
    SqliteReplayCache,
    SqliteSessionStore,
    SqliteTokenStore,
)
from forcegate.stores.sqlite_trust import SqliteTrustStore

__all__ = ["open_sqlite_stores"]

_KEY_CHECK = "encryption_key_check"
_KEY_CHECK_PLAINTEXT = b"forcegate"


async def open_sqlite_stores(path: str, *, box: SecretBox, migrate: bool = True) -> Stores:
    """Open the database at ``path`` (created with its directory if missing) and return its stores.

    ``migrate``: apply missing schema migrations first; when False, an outdated schema is a
    :class:`ConfigurationError` naming both versions. A database whose secrets were sealed with
    another key than ``box``'s is refused here, at start, rather than on the first request.
    """
    db = SqliteDatabase.open(path)
    try:
        _prepare(db, box, migrate=migrate)
    except BaseException:
        db.close()
        raise

    async def check() -> Mapping[str, str]:
        return {"database": db.health()}

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
        check=check,
        close=close,
    )


def _prepare(db: SqliteDatabase, box: SecretBox, *, migrate: bool) -> None:
    with db.locked() as conn:
        if migrate:
            migrations.upgrade(conn)
        else:
            current, latest = migrations.current_version(conn), migrations.latest_version()
            if current != latest:
                raise ConfigurationError(
                    f"the database {db.path} has schema version {current}; this forcegate needs version {latest}"
                    + (": run `forcegate db upgrade`" if current < latest else ": upgrade forcegate")
                )
    # The first process to open the database seals a known value; every later one must open it.
    row = db.read_one("SELECT value FROM store_meta WHERE name = ?", (_KEY_CHECK,))
    if row is None:
        sealed = box.encrypt(_KEY_CHECK_PLAINTEXT, context=_KEY_CHECK)
        # DO NOTHING: when two processes race, the first one's value stands and both check it.
        db.execute(
            "INSERT INTO store_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (_KEY_CHECK, sealed)
        )
        row = db.read_one("SELECT value FROM store_meta WHERE name = ?", (_KEY_CHECK,))
    if row is None or box.decrypt(row[0], context=_KEY_CHECK) != _KEY_CHECK_PLAINTEXT:
        raise ConfigurationError(f"the database {db.path} failed its encryption key check")
