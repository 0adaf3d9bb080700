"""The lean connection pool (decision 0033) on the real PostgreSQL test server: reuse, limits, waits, retirement."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from forcegate.errors import StoreUnavailable
from forcegate.stores.postgres_db import PostgresDatabase
from forcegate.stores.postgres_pool import Connection, ConnectionPool, PoolClosed
from stores.stores_support import run, shared_database_url


class Counted:
    """``asyncpg.connect`` to the test server, counting the connections opened; ``fail`` makes the next ones fail."""

    def __init__(self) -> None:
        self.opened = 0
        self.fail = 0

    async def __call__(self) -> Connection:
        if self.fail:
            self.fail -= 1
            raise OSError("connection refused (test)")
        self.opened += 1
        return await asyncpg.connect(shared_database_url())


async def pid(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT pg_backend_pid()"))


def with_pool(test: Callable[[ConnectionPool, Counted], Awaitable[None]], *, max_idle: float = 300.0) -> None:
    connect = Counted()
    pool = ConnectionPool(connect, max_size=2, max_idle=max_idle)

    async def body() -> None:
        await pool.start()
        try:
            await test(pool, connect)
        finally:
            pool.terminate()

    run(body())


def test_start_opens_the_minimum_and_a_failure_refuses_start() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        assert connect.opened == 1
        assert pool.size == 1

    with_pool(test)
    connect = Counted()
    connect.fail = 1
    with pytest.raises(OSError, match="refused"):
        run(ConnectionPool(connect, max_size=2).start())


def test_one_connection_serves_uses_one_after_another() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        pids = []
        for _ in range(5):
            conn = await pool.acquire(1.0)
            pids.append(await pid(conn))
            pool.release(conn, reusable=True)
        assert len(set(pids)) == 1
        assert connect.opened == 1

    with_pool(test)


def test_connections_are_opened_as_load_requires_up_to_the_maximum_then_callers_wait() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        first, second = await pool.acquire(1.0), await pool.acquire(1.0)
        assert connect.opened == 2
        third = asyncio.ensure_future(pool.acquire(5.0))
        await asyncio.sleep(0.05)
        assert not third.done()  # the maximum is open and in use: it waits
        pool.release(first, reusable=True)
        assert await third is first  # handed over, not a new connection
        assert connect.opened == 2
        assert pool.size == 2
        pool.release(second, reusable=True)
        pool.release(first, reusable=True)

    with_pool(test)


def test_a_wait_ends_with_a_timeout_and_leaves_nothing_behind() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        held = [await pool.acquire(1.0), await pool.acquire(1.0)]
        with pytest.raises(TimeoutError):
            await pool.acquire(0.05)
        for conn in held:
            pool.release(conn, reusable=True)
        assert pool.size == 2
        again = await pool.acquire(0.05)
        assert again in held
        pool.release(again, reusable=True)

    with_pool(test)


def test_a_connection_not_reusable_is_terminated_and_its_slot_goes_to_a_waiter() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        first, second = await pool.acquire(1.0), await pool.acquire(1.0)
        waiting = asyncio.ensure_future(pool.acquire(5.0))
        await asyncio.sleep(0)
        pool.release(first, reusable=False)
        assert first.is_closed()
        replacement = await waiting
        assert replacement is not first
        assert connect.opened == 3
        assert pool.size == 2
        for conn in (second, replacement):
            pool.release(conn, reusable=True)

    with_pool(test)


def test_a_connection_with_a_transaction_open_is_not_used_again() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        conn = await pool.acquire(1.0)
        await conn.execute("BEGIN")
        pool.release(conn, reusable=True)
        assert conn.is_closed()
        assert pool.size == 0
        fresh = await pool.acquire(1.0)
        assert not fresh.is_in_transaction()
        pool.release(fresh, reusable=True)

    with_pool(test)


def test_a_caller_cancelled_just_as_it_is_handed_a_connection_passes_it_on() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        first, second = await pool.acquire(1.0), await pool.acquire(1.0)
        waiting = asyncio.ensure_future(pool.acquire(5.0))
        await asyncio.sleep(0)  # now waiting
        pool.release(first, reusable=True)  # handed to it...
        waiting.cancel()  # ...and cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pool.size == 2
        assert await pool.acquire(0.05) is first  # back in the pool, not lost
        pool.release(first, reusable=True)
        pool.release(second, reusable=True)

    with_pool(test)


def test_a_failed_connect_frees_its_slot() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        held = await pool.acquire(1.0)
        connect.fail = 1
        with pytest.raises(OSError, match="refused"):
            await pool.acquire(1.0)
        assert pool.size == 1
        other = await pool.acquire(1.0)  # the slot is free again
        assert pool.size == 2
        pool.release(held, reusable=True)
        pool.release(other, reusable=True)

    with_pool(test)


def test_expire_retires_idle_connections_at_once_and_busy_ones_when_they_come_back() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        idle = await pool.acquire(1.0)
        busy = await pool.acquire(1.0)
        pool.release(idle, reusable=True)
        pool.expire()
        assert idle.is_closed()
        assert not busy.is_closed()
        pool.release(busy, reusable=True)
        assert busy.is_closed()
        assert pool.size == 0
        fresh = await pool.acquire(1.0)
        assert fresh not in (idle, busy)
        pool.release(fresh, reusable=True)

    with_pool(test)


def test_a_connection_idle_too_long_is_closed_beyond_the_minimum() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        first, second = await pool.acquire(1.0), await pool.acquire(1.0)
        pool.release(first, reusable=True)
        await asyncio.sleep(0.05)  # first has idled past max_idle
        pool.release(second, reusable=True)
        await asyncio.sleep(0.05)  # its graceful close runs in the background
        assert first.is_closed()
        assert not second.is_closed()
        assert pool.size == 1  # the minimum stays

    with_pool(test, max_idle=0.01)


def test_close_waits_for_connections_in_use_and_refuses_new_callers() -> None:
    async def test(pool: ConnectionPool, connect: Counted) -> None:
        first, second = await pool.acquire(1.0), await pool.acquire(1.0)
        waiting = asyncio.ensure_future(pool.acquire(5.0))
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(pool.close())
        await asyncio.sleep(0.05)
        with pytest.raises(PoolClosed):
            await waiting
        with pytest.raises(PoolClosed):
            await pool.acquire(1.0)
        assert not closing.done()  # two connections are still in use
        pool.release(first, reusable=True)
        pool.release(second, reusable=True)
        await asyncio.wait_for(closing, 5)
        assert first.is_closed()
        assert second.is_closed()

    with_pool(test)


# --- through PostgresDatabase ------------------------------------------------------------------------------


def test_a_statement_the_server_refuses_keeps_the_connection_and_a_cancelled_one_retires_it() -> None:
    db = run(PostgresDatabase.open(shared_database_url(), pool_size=1))

    async def own_pid() -> int:
        async with db.connection() as conn:
            return await pid(conn)

    async def cancelled_sleep() -> None:
        async with db.connection() as conn:
            await conn.execute("SELECT pg_sleep(5)")

    try:
        before = run(own_pid())
        with pytest.raises(StoreUnavailable, match="does not exist"):
            run(db.fetch("SELECT * FROM no_such_table"))
        assert run(own_pid()) == before  # an error the server reported leaves the protocol idle

        async def cancel_midway() -> None:
            task = asyncio.ensure_future(cancelled_sleep())
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        run(cancel_midway())
        assert run(own_pid()) != before  # a statement may still run on it: never handed out again
    finally:
        run(db.close())


def test_a_pool_exhausted_past_the_acquire_timeout_is_store_unavailable() -> None:
    db = run(PostgresDatabase.open(shared_database_url(), pool_size=1, connect_timeout=0.2))

    async def hold_and_ask() -> None:
        async with db.connection():
            with pytest.raises(StoreUnavailable):
                await db.fetchval("SELECT 1")

    try:
        run(hold_and_ask())
        assert run(db.fetchval("SELECT 1")) == 1  # and it serves again once the connection is back
    finally:
        run(db.close())


def test_a_connection_left_busy_by_a_client_side_refusal_is_not_handed_out_again() -> None:
    db = run(PostgresDatabase.open(shared_database_url(), pool_size=1))

    async def two_at_once() -> None:
        async with db.connection() as conn:
            # asyncpg refuses the second statement (InterfaceError) while the first is still running.
            await asyncio.gather(conn.fetchval("SELECT pg_sleep(0.3)"), conn.fetchval("SELECT 1"))

    async def gather_refused() -> None:
        with pytest.raises(asyncpg.InterfaceError, match="another operation is in progress"):
            await two_at_once()

    try:
        run(gather_refused())
        assert run(db.fetchval("SELECT 2")) == 2  # a fresh connection, not the busy one
    finally:
        run(db.close())


def test_asyncpg_losing_track_of_a_connection_is_a_lost_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen when the server terminated a pooled connection's backend: asyncpg's protocol refuses the next
    # statement with InternalClientError. A read is retried on a fresh connection; a write is refused
    # as the store being unavailable, never a bare asyncpg error.
    db = run(PostgresDatabase.open(shared_database_url(), pool_size=1))
    broken: list[int] = []

    def losing_track(method: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        async def call(*args: object) -> object:
            if not broken:
                broken.append(1)
                raise asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")
            return await method(*args)

        return call

    async def own_pid() -> int:
        async with db.connection() as conn:
            return await pid(conn)

    try:
        before = run(own_pid())
        with monkeypatch.context() as patch:
            patch.setattr(asyncpg.Connection, "fetchval", losing_track(asyncpg.Connection.fetchval))
            assert run(db.fetchval("SELECT 1")) == 1
        assert broken == [1]
        assert run(own_pid()) != before  # the connection it lost track of is not used again
        broken.clear()
        with monkeypatch.context() as patch:
            patch.setattr(asyncpg.Connection, "fetchrow", losing_track(asyncpg.Connection.fetchrow))
            with pytest.raises(StoreUnavailable, match="another operation"):
                run(db.write_row("SELECT 1"))
    finally:
        run(db.close())
