"""The asyncpg connection pool of a process: its transactions, its error mapping, its recovery.

Fail closed: a server that cannot be reached, is restarting or refuses the statement for a reason
other than the data is :class:`StoreUnavailable`, never a guess.

Recovery without a restart: when the server restarts, every pooled connection is dead, and the pool
learns it only by using each one. On the first connection-level failure the pool's connections are
expired, so each later request gets a fresh one: a restart costs at most one failed request per
process, not one per pooled connection. A read (idempotent) is retried once, at once, on a fresh
connection, so it usually does not fail at all; a write is never retried, since whether it committed
before the connection broke is unknown.

Messages name the server as ``scheme://user@host:port/database``: never the password, nor the URL's
query (which may carry one).

The pool is forcegate's own (:mod:`forcegate.stores.postgres_pool`, decision 0033): a connection goes
back without a reset query (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``, one more
round trip per use, decision 0027), and one whose use was cut short or that still holds a transaction
is terminated rather than used again. No store keeps session state — no ``SET``, ``LISTEN``, cursor or
session-level advisory lock (the migrations' lock is transaction-scoped). Code that needs session
state must not take it from this pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, NoReturn, TypeVar

import asyncpg

from forcegate.errors import AlreadyExists, ConfigurationError, ForcegateError, RegistryError, StoreUnavailable
from forcegate.stores.postgres_pool import Connection, ConnectionPool, PoolClosed

__all__ = ["HEALTH_TIMEOUT", "Connection", "FreshRead", "PostgresDatabase", "describe", "placeholders", "rowcount"]

#: How long ``health()`` waits for the server (seconds): a readiness probe must answer promptly.
HEALTH_TIMEOUT = 2.0
_CLOSE_TIMEOUT = 5.0

T = TypeVar("T")

# The connection (or the server) is gone; the statement itself may have been fine.
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08: "connection was closed in the middle of operation"
    asyncpg.AdminShutdownError,  # 57P01: terminated by an administrator, or the server shutting down
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.CannotConnectNowError,  # 57P03: the server is starting or stopping
    OSError,  # refused, reset, unreachable
)


# Errors after which a connection may still be busy with a statement.
_IN_FLIGHT = (TimeoutError, asyncpg.InterfaceError, asyncpg.InternalClientError)


def _reusable_after(exc: Exception) -> bool:
    """Whether a connection may serve again after its use raised ``exc``.

    An error the server reported, or one the stores raise between statements, leaves the protocol
    idle. A timeout, a lost connection or asyncpg's own refusal may leave a statement in flight (and a
    cancellation, no Exception, never gets here: it always retires the connection).
    """
    return not (isinstance(exc, _IN_FLIGHT) or _lost(exc))


def _lost(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.InterfaceError):
        # asyncpg raises InterfaceError for a closed connection or pool ("connection is closed",
        # "pool is closing") and for misuse ("another operation is in progress", arguments it
        # refuses): only the first kind is an outage. Its classes do not tell them apart; the text does.
        return "closed" in str(exc) or "closing" in str(exc)
    # asyncpg's protocol lost track of its connection ("cannot switch to state …; another operation is
    # in progress"), seen on a pooled connection whose backend the server had just terminated: as good
    # as lost, and a read on a fresh connection succeeds (it reached callers as a bare exception: a 500).
    return isinstance(exc, (*_CONNECTION_LOST, asyncpg.InternalClientError))


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, with the helpers the stores use."""

    def __init__(self, pool: ConnectionPool, where: str, *, acquire_timeout: float) -> None:
        self._pool = pool
        #: The database, for messages (no password).
        self.where = where
        self._acquire_timeout = acquire_timeout
        self._closed = False
        self._abandoned: set[asyncio.Future[Any]] = set()  # health probes still cleaning up

    @classmethod
    async def open(
        cls, url: str, *, pool_size: int = 10, connect_timeout: float = 5.0, command_timeout: float = 5.0
    ) -> PostgresDatabase:
        """Connect: one connection at first, up to ``pool_size`` as load requires.

        :class:`StoreUnavailable` if the server does not answer (start-up refuses with a clear
        message). The URL's query may set server settings (``?search_path=…&application_name=…``).
        """
        where = describe(url)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ConfigurationError("the PostgreSQL pool size is a whole number of at least 1")

        async def connect() -> Connection:
            return await asyncpg.connect(url, timeout=connect_timeout, command_timeout=command_timeout)

        pool = ConnectionPool(connect, max_size=pool_size)
        try:
            await pool.start()
        except ValueError as exc:  # a malformed URL (asyncpg's ClientConfigurationError is one too)
            raise ConfigurationError(f"invalid PostgreSQL URL {where}: {_scrub(str(exc), url)}") from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {where}: {_scrub(_reason(exc), url)}") from None
        return cls(pool, where, acquire_timeout=connect_timeout)

    # --- statements --------------------------------------------------------------------------------

    async def fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        """A read (retried once on a fresh connection if the connection was lost)."""
        return await self._read(lambda conn: conn.fetchrow(sql, *args))

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """A read (retried once on a fresh connection if the connection was lost)."""
        return await self._read(lambda conn: conn.fetch(sql, *args))

    async def fetchval(self, sql: str, *args: object) -> Any:
        """A read (retried once on a fresh connection if the connection was lost)."""
        return await self._read(lambda conn: conn.fetchval(sql, *args))

    async def write_row(self, sql: str, *args: object) -> asyncpg.Record | None:
        """One write statement that answers a row (``RETURNING``, a data-modifying ``WITH``), atomic on
        its own. Never retried: whether a lost statement committed is unknown."""
        return await self._use(lambda conn: conn.fetchrow(sql, *args))

    async def execute(self, sql: str, *args: object, duplicate: str | None = None) -> int:
        """One write statement, atomic on its own; returns the number of rows it changed. Never retried.

        ``duplicate``: the message of the :class:`AlreadyExists` to raise on a key conflict.
        """
        async with self.connection() as conn:
            try:
                status = await conn.execute(sql, *args)
            except asyncpg.UniqueViolationError:
                if duplicate is None:
                    raise
                raise AlreadyExists(duplicate) from None
        return rowcount(status)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A transaction: committed when the block ends, rolled back if anything raises. Never retried."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection (no transaction), with errors mapped as the module docstring says."""
        conn = await self._acquire()
        reusable = False
        try:
            yield conn
            reusable = True
        except Exception as exc:
            reusable = _reusable_after(exc)
            self._raise_mapped(exc)
        finally:
            self._pool.release(conn, reusable=reusable)

    async def _use(self, query: Callable[[Connection], Awaitable[T]]) -> T:
        """``query`` on a pooled connection: :meth:`connection` without a generator-based context
        manager, which costs a short read about as much as the pool does."""
        conn = await self._acquire()
        try:
            result = await query(conn)
        except Exception as exc:
            self._pool.release(conn, reusable=_reusable_after(exc))
            self._raise_mapped(exc)
        except BaseException:
            self._pool.release(conn, reusable=False)
            raise
        self._pool.release(conn, reusable=True)
        return result

    async def _acquire(self) -> Connection:
        try:
            return await self._pool.acquire(self._acquire_timeout)
        except Exception as exc:
            self._raise_mapped(exc)

    async def _read(self, query: Callable[[Connection], Awaitable[T]]) -> T:
        try:
            return await self._use(query)
        except StoreUnavailable as exc:
            # Only a lost connection earns the retry: a timeout would double the wait, a full server
            # or a closed store would answer the same again.
            if self._closed or not _lost(exc.__cause__ or exc):
                raise
        return await self._use(query)

    # --- health and shutdown -----------------------------------------------------------------------

    async def health(self) -> str:
        """``"ok"`` or a short reason; never raises, answers within about :data:`HEALTH_TIMEOUT` seconds."""
        if self._closed:
            return "closed"
        probe = asyncio.ensure_future(self.fetchval("SELECT generation FROM trust_generation WHERE singleton = 1"))
        # Not asyncio.timeout(): cancelling a query on a server that hangs waits for asyncpg's clean-up
        # (a cancel request, the connection's release), which can outlast the probe's deadline by far.
        # The probe is abandoned instead, and cleans up in the background.
        done, _ = await asyncio.wait({probe}, timeout=HEALTH_TIMEOUT)
        if not done:
            probe.cancel()
            self._abandoned.add(probe)
            probe.add_done_callback(self._forget)
            return f"PostgreSQL at {self.where} did not answer within {HEALTH_TIMEOUT:g} s"
        exc = probe.exception()
        if exc is None:
            return "ok"
        return exc.reason if isinstance(exc, ForcegateError) else _reason(exc)

    def _forget(self, probe: asyncio.Future[Any]) -> None:
        self._abandoned.discard(probe)
        if not probe.cancelled():
            probe.exception()  # retrieved: asyncio would log it as never retrieved

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self._pool.close(), _CLOSE_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._pool.terminate()  # a server that is gone cannot be told goodbye

    # --- error mapping -----------------------------------------------------------------------------

    def _raise_mapped(self, exc: Exception) -> NoReturn:
        mapped = self._failure(exc)
        if mapped is exc:
            raise exc
        raise mapped from exc

    def _failure(self, exc: Exception) -> Exception:
        """The error to raise for ``exc``; expires the pooled connections when the connection was lost."""
        if isinstance(exc, ForcegateError):
            return exc
        if self._closed or isinstance(exc, PoolClosed):
            return StoreUnavailable("the PostgreSQL store is closed")
        if _lost(exc) or isinstance(exc, TimeoutError):
            # After a lost connection (a server restart) the other pooled ones are most likely dead
            # too, and a timeout may be a connection to a host that is gone: replace them all on
            # their next use rather than fail one request per pooled connection.
            self._pool.expire()
            return StoreUnavailable(f"PostgreSQL at {self.where}: {_reason(exc)}")
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            # The stores turn the conflicts they expect into AlreadyExists; anything else is a write
            # the schema refuses.
            return RegistryError(f"the database refused the write: {_reason(exc)}")
        if isinstance(exc, asyncpg.DataError):
            # SQLSTATE class 22 (and asyncpg's own check of the arguments): a value the stores should
            # not have sent. A bug for its caller to see, not an outage.
            return exc
        if isinstance(exc, asyncpg.PostgresError):
            # A full server, a missing table, a deadlock, a full disk: refuse rather than guess.
            return StoreUnavailable(f"PostgreSQL at {self.where}: {_reason(exc)}")
        return exc  # a programming error reaches its caller as it is


class FreshRead(Generic[T]):
    """One idempotent read shared by concurrent callers, each answered by a read begun after its call.

    While a read is in flight, callers arriving meanwhile wait for it to end and then share the NEXT
    read, which begins after every one of them arrived; so whatever was committed before a caller's
    call is in its answer, as if it had read alone. Under load one read answers many callers (the
    registry generation, read by every request: decisions 0009 and 0010). A failure is raised to
    every caller of that read; a cancelled caller leaves the read to the others.
    """

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._waiting: list[asyncio.Future[T]] = []
        self._reader: asyncio.Task[None] | None = None

    async def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        if self._reader is not None and self._reader.get_loop() is not loop:
            self._reader, self._waiting = None, []  # left behind by a loop that is gone (tests, CLI runs)
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append(future)
        if self._reader is None:
            self._reader = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                # These callers all arrived before the read below begins; later ones wait for the next.
                waiting, self._waiting = self._waiting, []
                try:
                    value = await self._read()
                except Exception as exc:
                    for future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # the reader was cancelled (shutdown): so are its callers
                    for future in (*waiting, *self._waiting):
                        future.cancel()
                    self._waiting = []
                    raise
                for future in waiting:
                    if not future.done():
                        future.set_result(value)
        finally:
            self._reader = None


def placeholders(count: int, *, first: int = 1) -> str:
    """``$first, …``, ``count`` of them: the parameters of an INSERT of ``count`` columns (``first``:
    where they start, for a statement whose earlier parameters serve another table)."""
    return ", ".join(f"${n}" for n in range(first, first + count))


def rowcount(status: str) -> int:
    """The row count of a command status (``"INSERT 0 1"``, ``"DELETE 3"``); 0 for a status without one."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def describe(url: str) -> str:
    """``url`` without its password and query, for messages."""
    parts = urllib.parse.urlsplit(url)
    user, _, hosts = parts.netloc.rpartition("@")
    user = user.split(":", 1)[0]
    return f"{parts.scheme}://{user + '@' if user else ''}{hosts}{parts.path}"


def _reason(exc: BaseException) -> str:
    # A server error's first line only: its DETAIL may quote the row that was refused.
    text = str(exc.args[0]) if isinstance(exc, asyncpg.PostgresError) and exc.args else str(exc)
    return text or type(exc).__name__


def _scrub(text: str, url: str) -> str:
    """``text`` with any password of ``url`` masked (a driver's message may quote the URL)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    secrets = [parts.password or "", *query.get("password", []), *query.get("sslpassword", [])]
    for secret in {s for value in secrets if value for s in (value, urllib.parse.unquote(value))}:
        text = text.replace(secret, "***")
    return text
