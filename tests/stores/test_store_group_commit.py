"""Group commit on SQLite: writes queued in one event-loop turn share a transaction, each with its own result."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from forcegate.errors import AlreadyExists
from forcegate.stores.sqlite_db import SqliteDatabase

SCHEMA = "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"
INSERT = "INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING"


@pytest.fixture
def db(tmp_path: Path) -> SqliteDatabase:
    database = SqliteDatabase.open(str(tmp_path / "g.db"))
    database.connection.execute(SCHEMA)
    return database


def test_concurrent_writes_share_one_commit_and_keep_their_own_results(db: SqliteDatabase) -> None:
    commits: list[str] = []
    db.connection.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)

    async def scenario() -> list[int]:
        writes = [db.execute_grouped(INSERT, (f"k{n % 50}", n)) for n in range(100)]
        return list(await asyncio.gather(*writes))

    try:
        results = asyncio.run(scenario())
    finally:
        db.connection.set_trace_callback(None)
        db.close()
    # The first write of each key wins, the repeat changes nothing: per-statement semantics are kept.
    assert results == [1] * 50 + [0] * 50
    assert len(commits) == 1


def test_a_failing_write_fails_alone(db: SqliteDatabase) -> None:
    async def scenario() -> list[object]:
        plain = "INSERT INTO t (k, v) VALUES (?, ?)"
        writes = [
            db.execute_grouped(plain, ("a", 1)),
            db.execute_grouped(plain, ("a", 2), duplicate="key a exists"),
            db.execute_grouped(plain, ("b", 3)),
        ]
        return list(await asyncio.gather(*writes, return_exceptions=True))

    try:
        first, second, third = asyncio.run(scenario())
        rows = db.read_all("SELECT k, v FROM t ORDER BY k")
    finally:
        db.close()
    assert first == 1
    assert isinstance(second, AlreadyExists)
    assert second.reason == "key a exists"
    assert third == 1
    assert rows == [("a", 1), ("b", 3)]


def test_a_programming_error_reaches_its_caller(db: SqliteDatabase) -> None:
    async def scenario() -> list[object]:
        return list(
            await asyncio.gather(
                db.execute_grouped(INSERT, ("x", 1)),
                db.execute_grouped("INSERT INTO missing_table VALUES (?)", (1,)),
                return_exceptions=True,
            )
        )

    try:
        ok, failed = asyncio.run(scenario())
    finally:
        db.close()
    assert ok == 1
    assert isinstance(failed, Exception)
