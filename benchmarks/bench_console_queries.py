"""How long the console's database queries take with 100,000 orgs (and a million audit events).

The org list's search and count, a page of the audit log with filters, and the overview's aggregates
(registry counts, 24 hours of activity, refusal reasons, migration progress), each timed as the
median of several runs on the embedded SQLite store and, with ``--postgres URL``, on PostgreSQL.
The rows are written with plain SQL (fast), then read through the store as the console reads them.

    .venv/bin/python benchmarks/bench_console_queries.py [--orgs 100000] [--events 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from forcegate.core.ids import to18
from forcegate.stores.bundle import Stores
from forcegate.stores.console_rows import AuditFilter, OrgSearch
from forcegate.stores.encryption import SecretBox
from forcegate.stores.postgres import open_postgres_stores
from forcegate.stores.sqlite import open_sqlite_stores

KINDS = ("jwt-bearer", "canvas", "access-token", "jwt")


def _org_rows(count: int, now: float) -> list[tuple[object, ...]]:
    return [
        (
            to18(f"00D{n:012d}"),
            f"Customer {n} {'Retail' if n % 3 else 'Bank'}",
            1,
            "[]",
            None,
            "[]",
            '["RS256"]',
            now,
            now,
        )
        for n in range(count)
    ]


def _event_rows(count: int, orgs: int, now: float) -> list[tuple[object, ...]]:
    return [
        (
            now - (n % 172_800),
            "/oauth2/token",
            KINDS[n % 4],
            "denied" if n % 11 == 0 else "allowed",
            "token_expired" if n % 11 == 0 else "ok",
            "",
            to18(f"00D{n % orgs:012d}"),
            1,
        )
        for n in range(count)
    ]


_ORG_INSERT = "INSERT INTO orgs (org_id, name, enabled, issuers, subjects, scopes, algorithms, created_at, updated_at)"
_EVENT_INSERT = "INSERT INTO audit_events (at, endpoint, credential, result, code, detail, org_id, verified)"


async def _fill_sqlite(path: str, orgs: int, events: int, now: float) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.executemany(f"{_ORG_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", _org_rows(orgs, now))
        conn.executemany(f"{_EVENT_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _event_rows(events, orgs, now))
        conn.execute("ANALYZE")


async def _fill_postgres(stores: Stores, url: str, orgs: int, events: int, now: float) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "orgs",
            records=_org_rows(orgs, now),
            columns=[
                "org_id",
                "name",
                "enabled",
                "issuers",
                "subjects",
                "scopes",
                "algorithms",
                "created_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "audit_events",
            records=_event_rows(events, orgs, now),
            columns=["at", "endpoint", "credential", "result", "code", "detail", "org_id", "verified"],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _time(label: str, call: Callable[[], Awaitable[object]], runs: int = 7) -> None:
    await call()  # warm the caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    print(f"  {label:<44} {statistics.median(samples):8.1f} ms")


async def _measure(stores: Stores, now: float) -> None:
    console = stores.console
    await _time("org page, no search (50 of all)", lambda: console.search_orgs(OrgSearch(), limit=51))
    await _time("org count, no search", lambda: console.count_orgs(OrgSearch()))
    await _time("org page, name search 'bank'", lambda: console.search_orgs(OrgSearch(text="bank"), limit=51))
    await _time("org count, name search 'bank'", lambda: console.count_orgs(OrgSearch(text="bank")))
    await _time(
        "org page, id prefix '00D00000009'", lambda: console.search_orgs(OrgSearch(text="00D00000009"), limit=51)
    )
    await _time(
        "org page, deep (after the 90,000th id)",
        lambda: console.search_orgs(OrgSearch(), limit=51, after=to18("00D000000090000")),
    )
    await _time("audit page, no filter", lambda: console.search_audit(AuditFilter(), limit=50))
    await _time(
        "audit page, refusals of one org",
        lambda: console.search_audit(AuditFilter(org_id=to18("00D000000000042"), result="denied"), limit=50),
    )
    await _time("audit page, one code", lambda: console.search_audit(AuditFilter(code="token_expired"), limit=50))
    await _time("overview: registry counts", console.registry_counts)
    await _time("overview: 24 h activity by hour and kind", lambda: console.activity(now - 86_400, 3600))
    await _time("overview: refusal reasons, 24 h", lambda: console.refusal_reasons(now - 86_400))
    await _time("overview: migration counts, 30 days", lambda: console.migration_counts(now - 30 * 86_400))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be filled (a scratch schema)")
    args = parser.parse_args()
    now = time.time()
    box = SecretBox(os.urandom(32))
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "forcegate.db")
        stores = await open_sqlite_stores(path, box=box)
        await stores.close()
        await _fill_sqlite(path, args.orgs, args.events, now)
        stores = await open_sqlite_stores(path, box=box)
        print(f"SQLite, {args.orgs} orgs, {args.events} audit events")
        try:
            await _measure(stores, now)
        finally:
            await stores.close()
    if args.postgres:
        stores = await open_postgres_stores(args.postgres, box=box)
        try:
            await _fill_postgres(stores, args.postgres, args.orgs, args.events, now)
            print(f"PostgreSQL, {args.orgs} orgs, {args.events} audit events")
            await _measure(stores, now)
        finally:
            await stores.close()


if __name__ == "__main__":
    asyncio.run(main())
