"""Waiting for another process's SQLite write lock never blocks the event loop.

Regression of the penetration test's finding 8 (LOW): while another process held the write lock,
the server's loop sat in SQLite's busy handler, so ``/healthz`` took 25 s and ``/readyz`` answered
``database: ok``. Writes now retry with the loop free, and the health check reports the lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest

from forcegate.errors import StoreUnavailable
from forcegate.stores.sqlite_db import LOOP_BUSY_TIMEOUT_MS, SqliteDatabase

SCHEMA = "CREATE TABLE t (k TEXT PRIMARY KEY); CREATE TABLE trust_generation (generation INTEGER)"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase.open(str(tmp_path / "l.db"))
    database.connection.executescript(SCHEMA)
    database.connection.execute("INSERT INTO trust_generation VALUES (1)")
    database.serve_from_event_loop()
    yield database
    database.close()


@pytest.fixture
def other_process(db: SqliteDatabase) -> Iterator[sqlite3.Connection]:
    """Another connection to the file (as another process would hold it), not yet in a transaction."""
    conn = sqlite3.connect(db.path, isolation_level=None)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


async def _with_ticker(work: Awaitable[Any]) -> tuple[Any, float]:
    """Run ``work`` while a ticker measures how long the loop is ever unavailable; (result, longest gap)."""
    gaps: list[float] = []
    running = True

    async def tick() -> None:
        last = time.monotonic()
        while running:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.ensure_future(tick())
    try:
        result: Any = await work
    except Exception as exc:  # the caller asserts on it
        result = exc
    running = False
    await ticker
    return result, max(gaps, default=0.0)


def test_writes_wait_for_the_lock_with_the_loop_free(db: SqliteDatabase, other_process: sqlite3.Connection) -> None:
    other_process.execute("BEGIN IMMEDIATE")

    async def scenario() -> tuple[Any, float]:
        asyncio.get_running_loop().call_later(0.4, other_process.execute, "COMMIT")

        async def writes() -> list[int]:
            async def one_transaction() -> int:
                async with db.write() as conn:
                    return conn.execute("INSERT INTO t VALUES ('tx')").rowcount

            return list(
                await asyncio.gather(
                    db.execute_grouped("INSERT INTO t VALUES (?)", ("grouped",)),
                    db.execute("INSERT INTO t VALUES ('single')"),
                    one_transaction(),
                )
            )

        return await _with_ticker(writes())

    started = time.monotonic()
    results, longest_gap = asyncio.run(scenario())
    assert results == [1, 1, 1]
    assert time.monotonic() - started >= 0.35  # they did wait for the lock...
    assert longest_gap < 0.1  # ...and the loop answered all along
    assert {row[0] for row in db.read_all("SELECT k FROM t")} == {"grouped", "single", "tx"}


def test_a_lock_held_too_long_fails_closed_and_writes_nothing(
    db: SqliteDatabase, other_process: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("forcegate.stores.sqlite_db.BUSY_TIMEOUT_MS", 300)
    other_process.execute("BEGIN IMMEDIATE")

    async def scenario() -> tuple[list[Any], float]:
        work = asyncio.gather(
            db.execute_grouped("INSERT INTO t VALUES (?)", ("grouped",)),
            db.execute("INSERT INTO t VALUES ('single')"),
            return_exceptions=True,
        )
        return await _with_ticker(work)

    results, longest_gap = asyncio.run(scenario())
    assert all(isinstance(result, StoreUnavailable) for result in results), results
    assert all("locked" in str(result) for result in results)
    assert longest_gap < 0.1
    other_process.execute("ROLLBACK")
    assert db.read_all("SELECT k FROM t") == []


def test_health_reports_a_held_lock_within_its_deadline(db: SqliteDatabase, other_process: sqlite3.Connection) -> None:
    assert asyncio.run(db.health()) == "ok"
    other_process.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    verdict, longest_gap = asyncio.run(_with_ticker(db.health()))
    assert time.monotonic() - started < 2
    assert verdict.startswith("locked: another process has held the write lock")
    assert longest_gap < 0.1
    other_process.execute("COMMIT")
    assert asyncio.run(db.health()) == "ok"


def test_one_call_blocks_the_loop_for_at_most_the_short_busy_timeout(db: SqliteDatabase) -> None:
    row = db.read_one("PRAGMA busy_timeout")
    assert row is not None
    assert row[0] == LOOP_BUSY_TIMEOUT_MS
