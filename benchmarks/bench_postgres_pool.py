"""What a pool costs per use: forcegate's lean pool against asyncpg's, over connections used directly.

Every contender runs the same one-row read (``SELECT generation FROM trust_generation``, the shape of
the per-request reads) from 8 concurrent tasks over 8 connections (nobody waits for one, as with the
default pool of 10 per worker) to the real server (``FORCEGATE_TEST_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``):

* baseline: 8 connections taken from an ``asyncio.Queue`` and put back: the least a pool can do;
* forcegate: ``PostgresDatabase.fetchval``, as the stores call it (the lean pool of decision 0033,
  the error mapping and the retry-once wrapper included);
* asyncpg pool: ``asyncpg.create_pool`` as forcegate configured it before (no reset query, decision
  0027; an acquire timeout), ``async with pool.acquire(timeout=…)`` around the same ``fetchval``.

Rounds alternate; the figures are the client process's CPU time per read (the server's is the same
for all three) and the ratio to the baseline measured in the same round, median over the rounds.

    .venv/bin/python benchmarks/bench_postgres_pool.py [--rounds 7] [--reads 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg

from forcegate.stores.postgres_db import PostgresDatabase

URL = os.environ.get("FORCEGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONCURRENCY = 8
CONNECTIONS = 8  # as many as tasks: nobody waits, as with the default pool of 10 per worker
SCHEMA = "fg_bench_pool"
SQL = "SELECT generation FROM trust_generation"

Read = Callable[[], Awaitable[object]]


async def _cpu_per_read(read: Read, reads: int) -> tuple[float, float]:
    """(µs of this process's CPU, µs of wall time) per read, CONCURRENCY tasks at a time."""

    async def task() -> None:
        for _ in range(reads // CONCURRENCY):
            await read()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task() for _ in range(CONCURRENCY)))
    count = reads // CONCURRENCY * CONCURRENCY
    return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6


async def main(rounds: int, reads: int) -> None:
    admin = await asyncpg.connect(URL)
    await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    await admin.execute(f"CREATE TABLE {SCHEMA}.trust_generation AS SELECT 1::bigint AS generation")
    url = f"{URL}{'&' if '?' in URL else '?'}search_path={SCHEMA}"
    db = await PostgresDatabase.open(url, pool_size=CONNECTIONS)
    direct = [await asyncpg.connect(url) for _ in range(CONNECTIONS)]

    async def no_reset(_conn: object) -> None:
        return None

    theirs = await asyncpg.create_pool(
        url, min_size=CONNECTIONS, max_size=CONNECTIONS, reset=no_reset, command_timeout=5.0
    )
    waiting: asyncio.Queue[asyncpg.Connection[asyncpg.Record]] = asyncio.Queue()
    for conn in direct:
        waiting.put_nowait(conn)

    async def baseline() -> object:
        conn = waiting.get_nowait() if not waiting.empty() else await waiting.get()
        try:
            return await conn.fetchval(SQL)
        finally:
            waiting.put_nowait(conn)

    async def forcegate() -> object:
        return await db.fetchval(SQL)

    async def asyncpg_pool() -> object:
        async with theirs.acquire(timeout=5.0) as conn:
            return await conn.fetchval(SQL)

    contenders: dict[str, Read] = {
        f"baseline ({CONNECTIONS} connections in a queue)": baseline,
        "forcegate (PostgresDatabase.fetchval)": forcegate,
        "asyncpg pool (acquire with timeout)": asyncpg_pool,
    }
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        for read in contenders.values():  # warm-up: statement caches, connections
            await _cpu_per_read(read, 800)
        for _ in range(rounds):
            for name, read in contenders.items():
                spent, took = await _cpu_per_read(read, reads)
                cpu[name].append(spent)
                wall[name].append(took)
    finally:
        await db.close()
        await theirs.close()
        for conn in direct:
            await conn.close()
        await admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await admin.close()
    base = cpu[next(iter(contenders))]
    print(f"one-row read, {CONCURRENCY} tasks over {CONNECTIONS} connections, {rounds} rounds of {reads:,} reads")
    print(f"  {'contender':<44} {'CPU µs/read':>12} {'wall µs/read':>13} {'CPU vs baseline':>16}")
    for name in contenders:
        ratio = statistics.median(own / b for own, b in zip(cpu[name], base, strict=True))
        spent, took = statistics.median(cpu[name]), statistics.median(wall[name])
        print(f"  {name:<44} {spent:>12.1f} {took:>13.1f} {ratio:>15.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reads", type=int, default=4000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.reads))
