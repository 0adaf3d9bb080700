"""The schema of the configured database, for ``forcegate db``: its version, and upgrading it.

Works on the database alone, without opening the stores (no encryption key needed), so an operator
can check or upgrade a production database from any host that reaches it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from forcegate.errors import ConfigurationError, StoreUnavailable
from forcegate.settings import POSTGRESQL_SCHEMES, Settings
from forcegate.stores import migrate as migrations
from forcegate.stores.opening import require_driver

if TYPE_CHECKING:
    from forcegate.stores.postgres_db import PostgresDatabase

__all__ = ["SchemaState", "schema_state", "upgrade_schema"]


@dataclass(frozen=True, slots=True)
class SchemaState:
    backend: str  # "sqlite" or "postgresql"
    current: int  # 0: no forcegate schema yet
    latest: int  # what this forcegate needs

    @property
    def up_to_date(self) -> bool:
        return self.current == self.latest


async def schema_state(settings: Settings) -> SchemaState:
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return SchemaState("sqlite", 0, migrations.latest_version())
        with _sqlite(path) as lite:
            return SchemaState("sqlite", migrations.current_version(lite), migrations.latest_version())
    db = await _postgres(url)
    try:
        async with db.connection() as conn:
            current = await migrations.postgres_current_version(conn)
    finally:
        await db.close()
    return SchemaState("postgresql", current, migrations.latest_version())


async def upgrade_schema(settings: Settings, *, target: int | None = None) -> list[int]:
    """Apply the missing migrations (up to ``target``); return the versions applied."""
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        from forcegate.stores.sqlite_db import SqliteDatabase

        lite = SqliteDatabase.open(url.removeprefix("sqlite:///"))  # creates the file with private permissions
        try:
            with lite.locked() as conn:
                return migrations.upgrade(conn, target=target)
        finally:
            lite.close()
    db = await _postgres(url)
    try:
        async with db.connection() as pg:
            return await migrations.postgres_upgrade(pg, target=target)
    finally:
        await db.close()


@contextlib.contextmanager
def _sqlite(path: str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"SQLite database {path}: {exc}") from None
    finally:
        conn.close()


async def _postgres(url: str) -> PostgresDatabase:
    if not url.startswith(POSTGRESQL_SCHEMES):
        scheme = url.split(":", 1)[0]
        raise ConfigurationError(f"database URL scheme {scheme!r} is not supported")
    require_driver("asyncpg", "postgres", "a PostgreSQL database_url")
    # Imported here: the SQLite default (and the base install, without asyncpg) never loads the driver.
    from forcegate.stores.postgres_db import PostgresDatabase

    return await PostgresDatabase.open(url, pool_size=1)
