"""The one SQLite connection of a process, its transactions and its error mapping.

Several processes (server workers, the CLI) share the database file: WAL lets readers run beside
the single writer, ``busy_timeout`` makes a writer wait for the lock instead of failing, and every
multi-statement write starts with ``BEGIN IMMEDIATE`` so it takes the write lock up front (a
deferred transaction that reads first and writes later can fail with ``SQLITE_BUSY`` without the
busy handler ever being consulted).

The store methods are ``async`` but call SQLite inline, on the event loop: a call on a local file is
tens of microseconds (see docs/decisions/0006-store-layout.md), less than handing it to a thread
would cost. What must not run inline is *waiting*: another process (a CLI command, another worker,
an operator's ``sqlite3`` shell) may hold the write lock for long, and a loop blocked in SQLite's
busy handler answers nothing, not even ``/healthz``. So once the stores are open the busy handler
waits at most :data:`LOOP_BUSY_TIMEOUT_MS`, and writes take the lock with :meth:`SqliteDatabase.write`
or the group commit, which retry with the loop free (backing off) until :data:`BUSY_TIMEOUT_MS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

from forcegate.errors import AlreadyExists, ConfigurationError, ForcegateError, RegistryError, StoreUnavailable
from forcegate.stores.sqlite_checkpoint import Checkpointer, is_busy

__all__ = ["BUSY_TIMEOUT_MS", "LOOP_BUSY_TIMEOUT_MS", "Row", "SqliteDatabase", "TalliedUnit", "Tally", "is_duplicate"]

#: How long a write waits for another process's write lock before the store is unavailable.
BUSY_TIMEOUT_MS = 5000
#: How long one SQLite call may block the event loop in the busy handler (a reader in WAL mode
#: almost never waits; a writer is retried with the loop free).
LOOP_BUSY_TIMEOUT_MS = 10
#: The backoff between attempts at the write lock (seconds): first, and at most.
_RETRY_FIRST = 0.002
_RETRY_MAX = 0.05
#: How long /readyz waits for the write lock before it calls the database locked.
HEALTH_WRITE_WAIT = 1.0
#: How long a busy process gathers writes into one transaction (seconds).
GROUP_COMMIT_WINDOW = 0.001

Row = tuple[Any, ...]
Params = Sequence[Any]


class SqliteDatabase:
    """A connection in autocommit mode, a lock, explicit write transactions."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        # One connection per process, possibly used from several threads (check_same_thread=False):
        # the lock keeps one thread's transaction from interleaving with another's statements. On
        # the event loop it is never contended.
        self._lock = threading.Lock()
        self._closed = False
        self._pending: list[_Pending] = []
        self._last_flush = 0.0
        self._flush_deadline: float | None = None  # while a batch waits for another process's lock
        self._flush_retry = 0.0
        self._busy_timeout_ms = BUSY_TIMEOUT_MS
        self._checkpointer: Checkpointer | None = None

    @classmethod
    def open(cls, path: str) -> SqliteDatabase:
        """Open (creating the file and its directory if missing) and configure the connection."""
        if path != ":memory:" and not path.startswith("file:"):
            _create_private_file(Path(path))
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _enable_wal(conn)
            # In WAL mode NORMAL is still consistent after a crash; only the last transactions before
            # a power loss may be rolled back, and it spares an fsync per commit.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"cannot use SQLite database {path}: {exc}") from None
        return cls(conn, path)

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for the migration runner (which manages its own transaction)."""
        return self._conn

    @contextlib.contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, held by this thread, with SQLite errors mapped."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._map(exc) from exc

    def read_one(self, sql: str, params: Params = ()) -> Row | None:
        # On the hot path (registry generation, revocation check): the lock and the error mapping
        # written out, since a generator-based context manager costs as much as the query itself.
        with self._lock:
            try:
                row: Row | None = self._conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise self._map(exc) from exc
        return row

    def read_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self.locked() as conn:
            return conn.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Params = (), *, duplicate: str | None = None) -> int:
        """One write statement, atomic on its own; returns the number of rows changed. Waits for
        another process's write lock with the loop free, as :meth:`write` does.

        ``duplicate``: the message of the :class:`AlreadyExists` to raise on a key conflict.
        """
        async with self.write() as conn:
            try:
                return conn.execute(sql, params).rowcount
            except sqlite3.IntegrityError as exc:
                if duplicate is not None and is_duplicate(exc):
                    raise AlreadyExists(duplicate) from None
                raise

    async def execute_grouped(
        self, sql: str | Unit, params: Params = (), *, many: bool = False, duplicate: str | None = None
    ) -> int:
        """One write, committed in a **group commit** with the others queued in the same event-loop turn.

        Returns (after the commit) the rows this statement changed, as :meth:`execute` does; each
        statement is still atomic on its own. Under load, concurrent requests share one transaction
        instead of paying a commit each (see docs/decisions/0006-store-layout.md). ``many``: run
        ``executemany`` over ``params``. ``sql`` may also be a :data:`Unit`, a function running
        several statements that commit (or fail) together.
        """
        return await self._enqueue(_Pending(sql, params, many, duplicate, asyncio.get_running_loop().create_future()))

    async def execute_tallied(self, unit: TalliedUnit, tally: Tally) -> int:
        """A :data:`Unit` that first counts one hit of ``tally`` (a rate counter) and is given the
        window's count after it, in the group commit as :meth:`execute_grouped`.

        The batch adds its hits on one key with ONE upsert (``hits + n``) and hands each unit its own
        running count (the first of the batch ``total - n + 1``, …): the same counts, in the same
        transaction, as one upsert per unit — but one statement however many grants share the batch.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        return await self._enqueue(_Pending(unit, (), False, None, future, tally))

    def _enqueue(self, pending: _Pending) -> asyncio.Future[int]:
        """Queue ``pending`` for the next group commit; its future (awaited directly: one await less)."""
        loop = asyncio.get_running_loop()
        self._pending.append(pending)
        if len(self._pending) == 1:
            # Runs after every callback already ready in this turn: their writes join the batch.
            # Idle: write at once. Busy (the last batch was under a window ago): gather for one window,
            # so concurrent requests share the transaction instead of each paying for a commit.
            busy = time.monotonic() - self._last_flush < GROUP_COMMIT_WINDOW
            loop.call_later(GROUP_COMMIT_WINDOW, self._flush_pending) if busy else loop.call_soon(self._flush_pending)
        return pending.future

    def _flush_pending(self) -> None:
        batch, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        if not self._try_begin(batch):
            return
        try:
            with self._begun() as conn:
                hits = _count_tallies(conn, batch)
                counts = [_run(conn, op, hits[index]) for index, op in enumerate(batch)]
        except Exception:  # every waiting request must be settled, whatever went wrong
            # Rare (a conflict, a full disk): settle each write on its own so one bad write fails
            # only its own request.
            for op in batch:
                if op.future.done():
                    continue
                try:
                    with self.transaction(wait=False) as conn:
                        count = _run(conn, op, _count_tallies(conn, [op])[0])
                except ForcegateError as exc:
                    # transaction() maps sqlite3 errors; the original says whether it was a key conflict.
                    cause = exc.__cause__
                    conflict = isinstance(cause, sqlite3.IntegrityError) and is_duplicate(cause)
                    op.future.set_exception(AlreadyExists(op.duplicate) if conflict and op.duplicate else exc)
                except Exception as exc:  # a programming error reaches its caller, not the loop
                    op.future.set_exception(exc)
                else:
                    op.future.set_result(count)
            return
        for op, count in zip(batch, counts, strict=True):
            if not op.future.done():
                op.future.set_result(count)

    def _try_begin(self, batch: list[_Pending]) -> bool:
        """Take the write lock for ``batch`` (held by the caller's ``_begun()`` block), or put the batch
        back and retry later with the loop free; past the deadline, fail the batch. True if taken."""
        if self._flush_deadline is None:
            self._flush_deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        refused = self._begin()
        if refused is None:
            self._flush_deadline, self._flush_retry = None, 0.0
            return True
        if self._waitable(refused, self._flush_deadline):
            self._pending = batch + self._pending
            self._flush_retry = _backoff(self._flush_retry)
            asyncio.get_running_loop().call_later(self._flush_retry, self._flush_pending)
            return False
        self._flush_deadline, self._flush_retry = None, 0.0
        error = self._map(refused)
        for op in batch:
            if not op.future.done():
                op.future.set_exception(error)
        return False

    def _begin(self) -> sqlite3.Error | None:
        """``BEGIN IMMEDIATE`` under ``_lock``: None when it ran (the lock stays held, for ``_begun()``
        to release), else the error (the lock released)."""
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._lock.release()
            return exc
        except BaseException:
            self._lock.release()
            raise
        return None

    def _waitable(self, refused: sqlite3.Error, deadline: float) -> bool:
        """Whether a refused ``BEGIN`` is worth another try: another process holds the lock, and there is time."""
        return is_busy(refused) and not self._closed and time.monotonic() < deadline

    @contextlib.contextmanager
    def _begun(self) -> Iterator[sqlite3.Connection]:
        """The body of a transaction whose ``BEGIN`` already ran (and took ``_lock``): commit or roll back."""
        try:
            yield self._conn
            self._conn.execute("COMMIT")
            if self._checkpointer is not None:
                self._checkpointer.committed(self._conn)
        except sqlite3.Error as exc:
            self._rollback()
            raise self._map(exc) from exc
        except BaseException:
            self._rollback()
            raise
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def transaction(self, *, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction, **off the event loop** (migrations, ``db rekey``): it waits for the
        write lock in SQLite's busy handler (``wait``) for up to :data:`BUSY_TIMEOUT_MS`."""
        self._lock.acquire()
        try:
            if wait:
                self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            finally:
                if wait:
                    self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        except sqlite3.Error as exc:
            self._lock.release()
            raise self._map(exc) from exc
        except BaseException:
            self._lock.release()
            raise
        with self._begun() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def write(self, *, patience: float = BUSY_TIMEOUT_MS / 1000) -> AsyncIterator[sqlite3.Connection]:
        """A write transaction on the event loop: committed when the (synchronous) block ends, rolled
        back if anything raises. While another process holds the write lock the loop stays free:
        the attempt is retried, backing off, for up to ``patience`` seconds, then the store is
        unavailable. The block must not await: the connection is shared."""
        await self._acquire_write(patience)
        with self._begun() as conn:
            yield conn

    async def _acquire_write(self, patience: float) -> None:
        deadline = time.monotonic() + patience
        delay = _RETRY_FIRST
        while (refused := self._begin()) is not None:  # on success the lock is released by _begun()
            if not self._waitable(refused, deadline - delay):
                raise self._map(refused) from refused
            await asyncio.sleep(delay)
            delay = _backoff(delay)

    def serve_from_event_loop(self) -> None:
        """From now on no call blocks the loop in the busy handler for more than :data:`LOOP_BUSY_TIMEOUT_MS`,
        and no commit blocks it copying the WAL back: checkpoints run on a thread (decision 0037)."""
        with self.locked() as conn:
            conn.execute(f"PRAGMA busy_timeout = {LOOP_BUSY_TIMEOUT_MS}")
            self._busy_timeout_ms = LOOP_BUSY_TIMEOUT_MS
            if self._checkpointer is None and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                self._checkpointer = Checkpointer(self.path)
                conn.execute("PRAGMA wal_autocheckpoint = 0")

    @property
    def checkpointer(self) -> Checkpointer | None:
        """The thread checkpointing the WAL, once serving from the event loop (None before, or in memory)."""
        return self._checkpointer

    async def health(self) -> str:
        """``"ok"`` or a short reason; never raises. Reads, then takes the write lock (and lets it go):
        a database another process has held locked for over :data:`HEALTH_WRITE_WAIT` is not ready."""
        try:
            self.read_one("SELECT generation FROM trust_generation")
            async with self.write(patience=HEALTH_WRITE_WAIT):
                pass
        except StoreUnavailable as exc:
            if self._closed:
                return "closed"
            cause = exc.__cause__
            if isinstance(cause, sqlite3.Error) and is_busy(cause):
                return f"locked: another process has held the write lock for over {HEALTH_WRITE_WAIT:g} s"
            return str(cause or exc.reason)
        return "ok"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            self._conn.close()

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error that got us here is the one to report
                self._conn.execute("ROLLBACK")

    def _map(self, exc: sqlite3.Error) -> Exception:
        if self._closed:
            return StoreUnavailable("the SQLite store is closed")
        if isinstance(exc, sqlite3.IntegrityError):
            # The stores turn the conflicts they expect into AlreadyExists; anything else is a write
            # the schema refuses.
            return RegistryError(f"the database refused the write: {exc}")
        # Locked, busy, I/O errors, a full disk, a damaged file: refuse rather than guess (fail closed).
        return StoreUnavailable(f"SQLite database {self.path}: {exc}")


#: Several statements that must commit together (inside a group-commit batch), returning a count.
Unit = Callable[[sqlite3.Connection], int]
#: A unit given its tally's count (the window's hits, its own included): see ``execute_tallied``.
TalliedUnit = Callable[[sqlite3.Connection, int], int]


class Tally(NamedTuple):
    """One hit on the rate counter ``key`` in the window starting at ``window_start`` (its row
    expires at ``expires_at``), counted for a unit of the group commit."""

    key: str
    window_start: float
    expires_at: float


#: ``n`` hits on a counter, the window's count after them returned.
_TALLY = (
    "INSERT INTO rate_counters (counter_key, window_start, hits, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (counter_key, window_start) DO UPDATE SET hits = rate_counters.hits + excluded.hits RETURNING hits"
)


class _Pending(NamedTuple):
    sql: str | Unit | TalliedUnit
    params: Any
    many: bool
    duplicate: str | None
    future: asyncio.Future[int]
    tally: Tally | None = None


def _count_tallies(conn: sqlite3.Connection, batch: Sequence[_Pending]) -> list[int]:
    """Count the batch's tallies, one upsert per counter; each op's running count (0: no tally)."""
    counted: list[int] = [0] * len(batch)
    if not any(op.tally is not None for op in batch):
        return counted
    by_counter: dict[tuple[str, float], list[int]] = {}
    for index, op in enumerate(batch):
        if op.tally is not None:
            by_counter.setdefault((op.tally.key, op.tally.window_start), []).append(index)
    for (key, window_start), indexes in by_counter.items():
        expires_at = cast(Tally, batch[indexes[0]].tally).expires_at
        # fetchall(): the statement must run to completion inside the transaction.
        total = int(conn.execute(_TALLY, (key, window_start, len(indexes), expires_at)).fetchall()[0][0])
        for offset, index in enumerate(indexes):
            counted[index] = total - len(indexes) + offset + 1
    return counted


def _backoff(delay: float) -> float:
    """The next wait for another process's write lock: doubling from :data:`_RETRY_FIRST` to :data:`_RETRY_MAX`."""
    return min(_RETRY_MAX, delay * 2 or _RETRY_FIRST)


def _run(conn: sqlite3.Connection, op: _Pending, hits: int) -> int:
    if op.tally is not None:
        return cast(TalliedUnit, op.sql)(conn, hits)
    if callable(op.sql):
        # No savepoint needed: a unit that raises fails the batch's transaction as a whole, and the
        # batch is then replayed one write per transaction, where a failing unit is undone alone.
        return cast(Unit, op.sql)(conn)
    cursor = conn.executemany(op.sql, op.params) if op.many else conn.execute(op.sql, op.params)
    return cursor.rowcount


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out a concurrent opener: two processes opening a new database at once
    (a worker and the CLI) race for the exclusive lock the switch needs, and SQLite answers "database
    is locked" at once there instead of consulting the busy handler."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def is_duplicate(exc: sqlite3.IntegrityError) -> bool:
    """Whether the write failed on a primary-key or unique constraint (not NOT NULL, CHECK or a foreign key)."""
    return exc.sqlite_errorname in ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE")


def _create_private_file(path: Path) -> None:
    """Create the directory (0700) and an empty database file (0600) if missing.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's permissions, so the
    trust registry is private to its owner from the first byte.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            # No O_EXCL: another process creating it at the same time is fine (an empty file is an
            # empty database).
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise ConfigurationError(f"cannot create the database file {path}: {exc.strerror}") from None
