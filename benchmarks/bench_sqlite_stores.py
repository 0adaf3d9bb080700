"""Cost of the SQLite store calls on the request path (decision 0006).

Measured on a database file in a fresh temporary directory (``--dir`` to put it elsewhere, e.g. on
the volume the service will use):

* ``generation()``: the registry-freshness read made on every request (the baseline);
* ``replay.claim``: one atomic upsert, autocommit, WAL + ``synchronous=NORMAL``;
* claim + one audit event in ONE ``BEGIN IMMEDIATE`` transaction;
* ``replay.claim`` with ``synchronous=FULL`` (an fsync per commit), for the price of durability;
* the claim awaited on an event loop, inline versus handed to a thread (``asyncio.to_thread``):
  the reason the store calls SQLite inline.

    .venv/bin/python benchmarks/bench_sqlite_stores.py [--seconds 3] [--dir PATH]

Store coroutines never suspend (SQLite is called inline), so the first four are driven without an
event loop, which would otherwise dominate the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Contender, print_results, run

from forcegate.stores.encryption import SecretBox
from forcegate.stores.migrate import upgrade
from forcegate.stores.sqlite_db import SqliteDatabase
from forcegate.stores.sqlite_state import SqliteReplayCache
from forcegate.stores.sqlite_trust import SqliteTrustStore

T = TypeVar("T")

_AUDIT = (
    "INSERT INTO audit_events (at, endpoint, credential, result, code, detail, org_id, user_id, subject, issuer,"
    " client) VALUES (?, '/oauth2/token', 'jwt-bearer', 'allowed', 'ok', '', '00Dx00000001hxyEAA',"
    " '005x0000001SyyEAAS', 'ada@example.com', '00Dx00000001hxyEAA', '3MVG9')"
)
_CLAIM = (
    "INSERT INTO replay (claim_key, expires_at) VALUES (?, ?) "
    "ON CONFLICT (claim_key) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at < ?"
)


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("the store call suspended: it is not inline")


def open_db(path: Path, *, synchronous: str = "NORMAL") -> SqliteDatabase:
    db = SqliteDatabase.open(str(path))
    upgrade(db.connection)
    db.connection.execute(f"PRAGMA synchronous = {synchronous}")
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="total measuring time (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="directory for the database files (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        normal = open_db(Path(directory) / "normal.db")
        full = open_db(Path(directory) / "full.db", synchronous="FULL")
        trust = SqliteTrustStore(normal, SecretBox(bytes(32)))
        replay = SqliteReplayCache(normal)
        replay_full = SqliteReplayCache(full)
        keys = (f"replay-key-{n:012d}" for n in itertools.count())
        loop = asyncio.new_event_loop()
        try:

            def claim_and_audit() -> object:
                now = time.time()
                with normal.transaction() as conn:
                    claimed = conn.execute(_CLAIM, (next(keys), now + 300, now)).rowcount == 1
                    conn.execute(_AUDIT, (now,))
                return claimed

            def claim_on_loop(hop: bool) -> Callable[[], object]:
                def inline() -> object:
                    return loop.run_until_complete(replay.claim(next(keys), time.time() + 300))

                def threaded() -> object:
                    key = next(keys)
                    return loop.run_until_complete(asyncio.to_thread(drive, replay.claim(key, time.time() + 300)))

                return threaded if hop else inline

            results = run(
                [
                    Contender("trust.generation() read", lambda: drive(trust.generation())),
                    Contender("replay.claim (WAL, synchronous=NORMAL)", lambda: drive(replay.claim(next(keys), 9e9))),
                    Contender("claim + audit event, one transaction", claim_and_audit),
                    Contender(
                        "replay.claim (WAL, synchronous=FULL)", lambda: drive(replay_full.claim(next(keys), 9e9))
                    ),
                    Contender("claim awaited on a loop, inline", claim_on_loop(hop=False)),
                    Contender("claim awaited on a loop, via to_thread", claim_on_loop(hop=True)),
                ],
                seconds=args.seconds,
            )
        finally:
            loop.close()
            normal.close()
            full.close()
    print_results(f"SQLite stores, SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}", results)


if __name__ == "__main__":
    main()
