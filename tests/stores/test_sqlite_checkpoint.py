"""WAL checkpoints run on the checkpointer's thread, never in a commit on the event loop (decision 0037),
and the WAL stays bounded however continuously the loop writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from forcegate.stores.sqlite_checkpoint import Checkpointer
from forcegate.stores.sqlite_db import SqliteDatabase

PAGE = 4096
ROW = b"x" * 3000  # about a page per row: each commit adds a few WAL frames


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def _writer(path: Path) -> sqlite3.Connection:
    """A connection that commits as the loop's does once serving: WAL, no automatic checkpoint."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
    return conn


@contextlib.contextmanager
def _checkpointed(path: Path, **options: Any) -> Iterator[tuple[sqlite3.Connection, Checkpointer]]:
    """A writing connection and a checkpointer of ``options`` on ``path``, both closed after."""
    writer = _writer(path)
    checkpointer = Checkpointer(str(path), **options)
    try:
        yield writer, checkpointer
    finally:
        checkpointer.close()
        writer.close()


def _wal_pages(path: Path) -> int:
    return os.path.getsize(f"{path}-wal") // PAGE


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase.open(str(tmp_path / "c.db"))
    database.connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    database.serve_from_event_loop()
    yield database
    database.close()


def test_serving_moves_checkpoints_off_the_loop_connection(db: SqliteDatabase) -> None:
    checkpointer = db.checkpointer
    assert checkpointer is not None
    assert db.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0

    async def writes() -> None:
        await asyncio.gather(*(db.execute_grouped("INSERT INTO t (v) VALUES (?)", (ROW,)) for _ in range(50)))

    asyncio.run(writes())
    # The commit poked the thread, which copied every frame the WAL held back into the database file.
    assert _wait_for(lambda: checkpointer.checkpoints >= 1 and checkpointer.last[0] > 0)
    frames, copied = checkpointer.last
    assert copied == frames
    reader = sqlite3.connect(db.path)
    try:
        assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 50
    finally:
        reader.close()


def test_an_in_memory_database_has_no_checkpointer() -> None:
    database = SqliteDatabase.open(":memory:")
    try:
        database.serve_from_event_loop()
        assert database.checkpointer is None
    finally:
        database.close()


def test_the_wal_stays_bounded_while_writes_never_pause(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with _checkpointed(path, interval=0.001, frames_cap=64, frames_per_checkpoint=32) as (writer, checkpointer):
        for _ in range(3000):  # ~4 frames a commit: 12,000 frames, 47 MB of WAL if it never started over
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
            writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
            writer.execute("COMMIT")
            checkpointer.committed(writer)
        assert checkpointer.checkpoints > 10
        assert checkpointer.handed_back >= 1
        assert _wal_pages(path) < 2000, f"the WAL grew to {_wal_pages(path)} pages"


def test_a_wal_left_past_its_cap_is_checkpointed_once_by_the_writer_and_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "cap.db"
    with _checkpointed(path, interval=30.0, frames_cap=16) as (writer, checkpointer):
        for _ in range(40):
            writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
        checkpointer.committed(writer)
        assert _wait_for(lambda: checkpointer.checkpoints == 1)
        frames, copied = checkpointer.last
        assert frames == copied >= 40
        was_due = checkpointer.due
        assert was_due  # copied, but the WAL has not started over
        writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
        checkpointer.committed(writer)  # the due checkpoint, on the writer: nothing can overtake it
        assert checkpointer.handed_back == 1
        assert not checkpointer.due
        writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
        # This write started the WAL over: a handful of frames, not 40 and more.
        assert writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] < 16


def test_a_long_reader_keeps_the_wal_without_holding_writers_off(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with _checkpointed(path, interval=0.001, frames_cap=16, frames_per_checkpoint=16) as (writer, checkpointer):
        reader = sqlite3.connect(path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM t").fetchone()  # holds its snapshot: the WAL cannot start over
            slowest = 0.0
            for _ in range(300):
                started = time.monotonic()
                writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
                slowest = max(slowest, time.monotonic() - started)
                checkpointer.committed(writer)
                time.sleep(0.001)
            # Passive checkpoints, the writer's own included, never wait for the reader.
            assert slowest < 0.2, f"a write waited {slowest:.3f} s"
            assert checkpointer.last[0] >= 300  # every frame kept while the reader may need them
            assert checkpointer.handed_back >= 1
            reader.execute("COMMIT")

            def started_over() -> bool:
                writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
                checkpointer.committed(writer)
                return checkpointer.last[0] < 16

            assert _wait_for(started_over)
        finally:
            reader.close()


def test_close_stops_the_thread_without_waiting_out_the_interval(tmp_path: Path) -> None:
    with _checkpointed(tmp_path / "s.db", interval=30.0) as (writer, checkpointer):
        writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
        checkpointer.committed(writer)
        assert _wait_for(lambda: checkpointer.checkpoints == 1)
        started = time.monotonic()
        checkpointer.close()
        assert time.monotonic() - started < 1.0
        assert not checkpointer._thread.is_alive()


def test_a_failing_checkpoint_is_logged_once_and_the_thread_lives_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _checkpointed(tmp_path / "f.db", interval=0.001) as (writer, checkpointer):
        checkpointer._conn.close()  # every checkpoint now fails
        with caplog.at_level(logging.WARNING, logger="forcegate.stores.sqlite"):
            for _ in range(20):
                writer.execute("INSERT INTO t (v) VALUES (?)", (ROW,))
                checkpointer.committed(writer)
                time.sleep(0.005)
        warnings = [r for r in caplog.records if "WAL checkpoint failed" in r.getMessage()]
        assert len(warnings) == 1
        assert checkpointer.checkpoints == 0
        assert checkpointer._thread.is_alive()
