"""The migration runners (SQLite, PostgreSQL), the migrate policy, and the shipped SQL files."""

from __future__ import annotations

import asyncio
import importlib.resources
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from forcegate.errors import ConfigurationError
from forcegate.stores import migrate
from forcegate.stores.encryption import SecretBox
from forcegate.stores.migrate import (
    MigratePolicy,
    Migration,
    current_version,
    latest_version,
    migrations,
    postgres_current_version,
    postgres_upgrade,
    render,
    should_upgrade,
    upgrade,
)
from forcegate.stores.postgres import open_postgres_stores
from forcegate.stores.sqlite import open_sqlite_stores
from stores.stores_support import run

T = TypeVar("T")

TABLES = {
    "schema_migrations",
    "trust_generation",
    "store_meta",
    "apps",
    "app_secrets",
    "orgs",
    "org_apps",
    "certificates",
    "enrollments",
    "approved_orgs",
    "enrollment_sign_ins",
    "notifications",
    "console_operators",
    "console_sessions",
    "console_sign_in_failures",
    "replay",
    "issued_tokens",
    "revoked_tokens",
    "sessions",
    "audit_events",
    "rate_counters",
    "signing_keys",
    "admin_token",
}


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(tmp_path / "m.db", isolation_level=None)) as connection:
        yield connection


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_the_shipped_migrations_are_numbered_from_one() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "initial"
    assert latest_version() == found[-1].version


def test_upgrade_applies_everything_once(conn: sqlite3.Connection) -> None:
    assert current_version(conn) == 0
    assert upgrade(conn) == list(range(1, latest_version() + 1))
    assert current_version(conn) == latest_version()
    assert tables(conn) == TABLES
    assert conn.execute("SELECT generation FROM trust_generation").fetchall() == [(0,)]
    rows = conn.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
    assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in migrations()]
    assert all(applied > 0 for _, _, applied in rows)
    assert upgrade(conn) == []
    assert not conn.in_transaction


def test_upgrade_to_a_target(conn: sqlite3.Connection) -> None:
    assert upgrade(conn, target=0) == []
    assert tables(conn) == set()
    with pytest.raises(ConfigurationError, match="does not exist"):
        upgrade(conn, target=latest_version() + 1)


def test_a_failing_migration_leaves_the_schema_untouched(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = (*migrations(), Migration(latest_version() + 1, "broken", "CREATE TABLE x (a TEXT); SELEC oops;"))
    monkeypatch.setattr(migrate, "migrations", lambda: broken)
    with pytest.raises(sqlite3.OperationalError):
        upgrade(conn)
    assert tables(conn) == set()  # not even the earlier, valid migrations: one transaction
    assert current_version(conn) == 0
    assert not conn.in_transaction


def test_gaps_in_numbering_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Entry:
        def __init__(self, name: str) -> None:
            self.name = name

        def read_text(self, encoding: str) -> str:
            return "SELECT 1;"

    class Folder:
        def iterdir(self) -> list[Entry]:
            return [Entry("0001_initial.sql"), Entry("0003_later.sql"), Entry("README.txt")]

    monkeypatch.setattr(importlib.resources, "files", lambda package: Folder())
    migrate.migrations.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=r"\[1, 3\]"):
            migrate.migrations()
    finally:
        monkeypatch.undo()
        migrate.migrations.cache_clear()
    assert migrate.migrations()[0].name == "initial"


def test_split_statements() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (a TEXT DEFAULT 'x;y');  -- trailing comment
    INSERT INTO t VALUES ('it''s; fine');
    INSERT INTO "odd;name" VALUES (1)
    """
    assert migrate.split_statements(sql) == [
        "CREATE TABLE t (a TEXT DEFAULT 'x;y')",
        "INSERT INTO t VALUES ('it''s; fine')",
        'INSERT INTO "odd;name" VALUES (1)',
    ]


def test_the_postgresql_rendering_uses_only_portable_types() -> None:
    rendered = []
    for migration in migrations():
        statements = render(migration, "postgresql")
        text = "\n".join(statements)
        assert "--" not in text
        assert not re.search(r"\bBLOB\b|\bINTEGER PRIMARY KEY\b|\bREAL\b|AUTOINCREMENT|\bBOOLEAN\b", text)
        assert len(statements) == len(render(migration, "sqlite"))
        rendered.append(text)
    # The rewrites did apply (the first migration has both spellings; later ones need not).
    assert "GENERATED BY DEFAULT AS IDENTITY" in rendered[0]
    assert "BYTEA" in rendered[0]


def test_the_sqlite_rendering_has_no_real_columns() -> None:
    # PostgreSQL's REAL is 4 bytes (epoch seconds would round to minutes): times are DOUBLE PRECISION.
    for migration in migrations():
        assert not re.search(r"\bREAL\b", "\n".join(render(migration, "sqlite")))


def test_the_sql_files_are_declared_as_package_data() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    assert '"stores/migrations/*.sql"' in pyproject.read_text()


# --- PostgreSQL ----------------------------------------------------------------------------------------


async def pg_tables(conn: asyncpg.Connection[asyncpg.Record]) -> set[str]:
    rows = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return {row[0] for row in rows}


@pytest.fixture
def pg(pg_url: str) -> Iterator[asyncpg.Connection[asyncpg.Record]]:
    """A plain connection working in a fresh schema."""
    connection = run(asyncpg.connect(pg_url))
    try:
        yield connection
    finally:
        run(connection.close())


def test_postgres_upgrade_applies_everything_once(pg: asyncpg.Connection[asyncpg.Record]) -> None:
    assert run(postgres_current_version(pg)) == 0
    assert run(postgres_upgrade(pg)) == list(range(1, latest_version() + 1))
    assert run(postgres_current_version(pg)) == latest_version()
    assert run(pg_tables(pg)) == TABLES
    assert run(pg.fetchval("SELECT generation FROM trust_generation")) == 0
    rows = run(pg.fetch("SELECT version, name, applied_at FROM schema_migrations ORDER BY version"))
    assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in migrations()]
    assert all(r["applied_at"] > 0 for r in rows)
    # Every index of every migration is there (0002 adds one on audit_events.at).
    indexes = run(pg.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
    assert {"audit_events_by_org", "audit_events_by_time"} <= {r[0] for r in indexes}
    assert run(postgres_upgrade(pg)) == []
    assert not pg.is_in_transaction()


def test_postgres_upgrade_to_a_target(pg: asyncpg.Connection[asyncpg.Record]) -> None:
    assert run(postgres_upgrade(pg, target=0)) == []
    assert run(pg_tables(pg)) == set()
    assert run(postgres_upgrade(pg, target=1)) == [1]
    assert run(postgres_current_version(pg)) == 1
    assert run(postgres_upgrade(pg)) == list(range(2, latest_version() + 1))
    with pytest.raises(ConfigurationError, match="does not exist"):
        run(postgres_upgrade(pg, target=latest_version() + 1))


def test_a_failing_postgres_migration_leaves_the_schema_untouched(
    pg: asyncpg.Connection[asyncpg.Record], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = (*migrations(), Migration(latest_version() + 1, "broken", "CREATE TABLE x (a TEXT); SELEC oops;"))
    monkeypatch.setattr(migrate, "migrations", lambda: broken)
    with pytest.raises(asyncpg.PostgresSyntaxError):
        run(postgres_upgrade(pg))
    assert run(pg_tables(pg)) == set()  # not even the earlier, valid migrations: one transaction
    assert run(postgres_current_version(pg)) == 0
    assert not pg.is_in_transaction()


def test_a_newer_postgres_schema_is_refused(pg: asyncpg.Connection[asyncpg.Record]) -> None:
    run(postgres_upgrade(pg))
    run(pg.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)"))
    with pytest.raises(ConfigurationError, match="999"):
        run(postgres_upgrade(pg))


def test_concurrent_postgres_upgrades_apply_each_migration_once(pg_url: str) -> None:
    async def race() -> list[list[int]]:
        connections = [await asyncpg.connect(pg_url) for _ in range(4)]
        try:
            # Sent in the same loop turn: all four read version 0 before any of them commits.
            return list(await asyncio.gather(*(postgres_upgrade(conn) for conn in connections)))
        finally:
            for conn in connections:
                await conn.close()

    results = run(race())
    assert sorted(results) == [[], [], [], list(range(1, latest_version() + 1))]

    async def count() -> object:
        conn = await asyncpg.connect(pg_url)
        try:
            return await conn.fetchval("SELECT COUNT(*) FROM schema_migrations")
        finally:
            await conn.close()

    assert run(count()) == latest_version()


# --- the migrate policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "current", "applies"),
    [("upgrade", 0, True), ("upgrade", 1, True), ("create", 0, True), ("upgrade", None, False), ("check", None, False)],
)
def test_should_upgrade(policy: MigratePolicy, current: int | None, applies: bool) -> None:
    found = latest_version() if current is None else current
    assert should_upgrade(policy, found, database="db") is applies


@pytest.mark.parametrize(("policy", "current"), [("check", 0), ("check", 1), ("create", 1)])
def test_should_upgrade_refuses_an_outdated_schema(policy: MigratePolicy, current: int) -> None:
    expected = (
        f"the database db has schema version {current}; this forcegate needs version {latest_version()}: "
        "run `forcegate db upgrade`"
    )
    with pytest.raises(ConfigurationError) as caught:
        should_upgrade(policy, current, database="db")
    assert caught.value.reason == expected


@pytest.mark.parametrize("policy", ["upgrade", "create", "check"])
def test_should_upgrade_refuses_a_newer_schema(policy: MigratePolicy) -> None:
    with pytest.raises(ConfigurationError, match=r"has schema version 999; .*: upgrade forcegate$"):
        should_upgrade(policy, 999, database="db")


class Database:
    """One database of either backend: bring it to a version, open its stores with a policy, read its version."""

    def __init__(self, backend: str, location: str) -> None:
        self.backend = backend
        self.location = location
        self.box = SecretBox(bytes(32))

    def migrate_to(self, version: int) -> None:
        if self.backend == "sqlite":
            with closing(sqlite3.connect(self.location, isolation_level=None)) as conn:
                upgrade(conn, target=version)
        else:
            run(self._on_postgres(lambda conn: postgres_upgrade(conn, target=version)))

    def version(self) -> int:
        if self.backend == "sqlite":
            with closing(sqlite3.connect(self.location, isolation_level=None)) as conn:
                return current_version(conn)
        return run(self._on_postgres(postgres_current_version))

    def open(self, policy: MigratePolicy) -> None:
        """Open the stores (they must be healthy), then close them."""
        if self.backend == "sqlite":
            stores = run(open_sqlite_stores(self.location, box=self.box, migrate=policy))
        else:
            stores = run(open_postgres_stores(self.location, box=self.box, migrate=policy))
        try:
            assert run(stores.check()) == {"database": "ok"}
        finally:
            run(stores.close())

    async def _on_postgres(self, action: Callable[[asyncpg.Connection[asyncpg.Record]], Awaitable[T]]) -> T:
        conn = await asyncpg.connect(self.location)
        try:
            return await action(conn)
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database("sqlite", str(tmp_path / "forcegate.db"))
    return Database("postgresql", request.getfixturevalue("pg_url"))


def test_create_sets_up_an_empty_database(database: Database) -> None:
    database.open("create")
    assert database.version() == latest_version()
    database.open("check")


@pytest.mark.parametrize("policy", ["create", "check"])
def test_an_outdated_database_is_refused_unless_upgrading(database: Database, policy: MigratePolicy) -> None:
    database.migrate_to(1)
    with pytest.raises(ConfigurationError, match=r"has schema version 1; .*run `forcegate db upgrade`"):
        database.open(policy)
    assert database.version() == 1  # refused: nothing applied
    database.open("upgrade")
    assert database.version() == latest_version()
    database.open(policy)


def test_check_refuses_an_empty_database(database: Database) -> None:
    with pytest.raises(ConfigurationError, match=r"has schema version 0; .*run `forcegate db upgrade`"):
        database.open("check")
    assert database.version() == 0
