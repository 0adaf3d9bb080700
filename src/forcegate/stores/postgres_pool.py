"""A lean pool of asyncpg connections: what the stores need of one, at a fraction of asyncpg's cost per use.

asyncpg's own pool spends about as much CPU handing out and taking back a connection as the query it
serves: its ``acquire(timeout=…)`` runs in ``wait_for`` (a task and a timer on Python 3.11) and its
release in ``shield`` (another task), with a proxy object and a timeout context per use — 104 µs of
CPU per one-row read through it against 53 µs with connections taken from a queue, and 63 µs through
this pool with forcegate's error mapping around it (``benchmarks/bench_postgres_pool.py``; decision
0033). This pool hands out an idle connection without awaiting anything and takes it back in a plain
function call.

Its rules:

* Up to ``max_size`` connections, opened as load requires; the most recently used idle connection
  goes out first (its statement cache and the server's buffers are warm), and one left idle longer
  than ``max_idle`` is closed while more than ``min_size`` are open.
* A caller waits for a connection at most ``timeout`` seconds (:class:`TimeoutError`).
* A connection is used again only when its use ended cleanly, or with an error the server reported
  (the protocol is idle again after it), with no transaction open. After a cancellation, a timeout, a
  client-side error, or with a transaction left open, it is terminated and a new one opened on demand:
  whatever state it was in cannot reach the next caller. (asyncpg's pool waits out a cancelled
  query's cancel request instead; here that rare case costs a reconnect.)
* :meth:`ConnectionPool.expire` retires every connection: idle ones at once, those in use when they
  come back (after a server restart the pooled connections are dead; decision 0027).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg

__all__ = ["Connection", "ConnectionPool", "PoolClosed"]

# A string: asyncpg's classes are generic only in its type stubs.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record]"

#: How long a connection may sit idle beyond the pool's minimum before it is closed (asyncpg's default).
MAX_IDLE_SECONDS = 300.0
_CLOSE_TIMEOUT = 5.0
_CLOSED = "the connection pool is closed"


class PoolClosed(Exception):
    """The pool is closing or closed: no connection is handed out any more."""


class ConnectionPool:
    """Connections opened by ``connect``, handed out one caller at a time (see the module docstring)."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        max_size: int,
        min_size: int = 1,
        max_idle: float = MAX_IDLE_SECONDS,
    ) -> None:
        self._connect = connect
        self._max_size = max_size
        self._min_size = min_size
        self._max_idle = max_idle
        self._idle: collections.deque[tuple[Connection, float]] = collections.deque()  # oldest first
        self._in_use: set[Connection] = set()
        self._expired: set[Connection] = set()  # in use when expire() was called: not used again
        self._opening = 0  # slots taken by connections being opened (or promised to a waiter)
        # A waiter is handed a connection, or None: a free slot to open one in.
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._closing = False
        self._drained: asyncio.Event | None = None
        self._closers: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        """Connections open, in use or idle, plus those being opened."""
        return len(self._idle) + len(self._in_use) + self._opening

    async def start(self) -> None:
        """Open the minimum at once: a server that does not answer refuses start-up, not a first request."""
        for _ in range(self._min_size - len(self._idle)):
            self._idle.append((await self._connect(), time.monotonic()))

    async def acquire(self, timeout: float) -> Connection:
        if self._closing:
            raise PoolClosed(_CLOSED)
        idle = self._idle
        while idle:
            conn = idle.pop()[0]
            if not conn.is_closed():  # asyncpg marks a connection whose server went away
                self._in_use.add(conn)
                return conn
        if self.size < self._max_size:
            self._opening += 1
            return await self._open()
        return await self._wait(timeout)

    def release(self, conn: Connection, *, reusable: bool) -> None:
        """Take ``conn`` back; ``reusable``: its use ended cleanly or with an error the server reported."""
        self._in_use.discard(conn)
        if conn in self._expired:
            self._expired.discard(conn)
            reusable = False
        if not reusable or self._closing or conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
            self._offer_slot()
        else:
            now = time.monotonic()
            self._close_one_stale(now)
            if not self._hand(conn):
                self._idle.append((conn, now))
        if self._drained is not None and not self._in_use:
            self._drained.set()

    def expire(self) -> None:
        """Retire every connection: the idle ones now, those in use when they come back."""
        while self._idle:
            self._idle.pop()[0].terminate()
        self._expired |= self._in_use
        self._offer_slot()

    async def close(self) -> None:
        """Refuse new callers, close the idle connections and wait for those in use to come back."""
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed(_CLOSED))
        idle = [conn for conn, _ in self._idle]
        self._idle.clear()
        await asyncio.gather(*(self._close_quietly(conn) for conn in idle))
        if self._in_use:
            self._drained = asyncio.Event()
            await self._drained.wait()
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    def terminate(self) -> None:
        """Close every connection at once, in use or not (a server that is gone cannot be told goodbye)."""
        self._closing = True
        for conn in (*self._in_use, *(conn for conn, _ in self._idle)):
            conn.terminate()
        self._in_use.clear()
        self._idle.clear()
        if self._drained is not None:
            self._drained.set()

    # --- internals ---------------------------------------------------------------------------------

    async def _open(self) -> Connection:
        """Open a connection in a slot already counted in ``_opening``."""
        try:
            conn = await self._connect()
        except BaseException:
            self._opening -= 1
            self._offer_slot()  # a waiter may have better luck
            raise
        self._opening -= 1
        if self._closing:
            conn.terminate()
            raise PoolClosed(_CLOSED)
        self._in_use.add(conn)
        return conn

    async def _wait(self, timeout: float) -> Connection:
        waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                handed = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection (or a slot) just as the wait ended: pass it on.
                given = waiter.result()
                if given is None:
                    self._opening -= 1
                    self._offer_slot()
                else:
                    self.release(given, reusable=True)
            else:
                waiter.cancel()
            raise
        if handed is None:
            return await self._open()
        return handed

    def _hand(self, conn: Connection) -> bool:
        """Give ``conn`` (still counted in use) to the first caller waiting; False if none waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use.add(conn)
                waiter.set_result(conn)
                return True
        return False

    def _offer_slot(self) -> None:
        """A connection is gone: let the first caller waiting open one in its place."""
        while self._waiters and self.size < self._max_size:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._opening += 1
                waiter.set_result(None)

    def _close_one_stale(self, now: float) -> None:
        """Close the longest-idle connection if it has idled past ``max_idle`` and more than the minimum are open."""
        # ``size`` does not count the connection being taken back: with it, one more is open.
        if self._idle and now - self._idle[0][1] > self._max_idle and self.size >= self._min_size:
            task = asyncio.get_running_loop().create_task(self._close_quietly(self._idle.popleft()[0]))
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)

    @staticmethod
    async def _close_quietly(conn: Connection) -> None:
        try:
            await conn.close(timeout=_CLOSE_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn.terminate()
