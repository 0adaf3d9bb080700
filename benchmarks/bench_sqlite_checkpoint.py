"""What the WAL checkpoint costs the event loop: in the commit, or on the checkpointer's thread (decision 0037).

Grants are recorded as the token endpoint records them (``SqliteGrantRecorder.record_grant``: claim,
token record, audit row; ``--batch`` concurrent grants per group commit) into a fresh database file
per contender and round, in interleaved rounds:

* inline: SQLite's automatic checkpoint (every 1,000 WAL pages), run inside the ``COMMIT`` that
  crosses the threshold, on the loop's thread — forcegate before decision 0037;
* thread: the checkpointer's thread runs them (the default once a store serves from an event loop).

Per grant it prints the loop's wall time (what the loop cannot serve anything else: SQLite runs
inline), the loop thread's CPU time, and the whole process's CPU time (the checkpointer's thread
included), and the thread contender's loop time as a share of the inline one's (median of per-round
ratios). It also prints the WAL's size at the end, which must stay bounded.

    .venv/bin/python benchmarks/bench_sqlite_checkpoint.py [--rounds 5] [--grants 25600] [--batch 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_token_ids import record

from forcegate.core.access_token import new_jti
from forcegate.stores.migrate import upgrade
from forcegate.stores.sqlite_db import SqliteDatabase
from forcegate.stores.sqlite_state import SqliteGrantRecorder


def _inline(db: SqliteDatabase) -> None:
    """Back to SQLite's own checkpoints, in the commit (as before decision 0037)."""
    checkpointer = db.checkpointer
    assert checkpointer is not None
    checkpointer.close()  # a closed checkpointer's committed() only sets an event nobody waits on
    db.connection.execute("PRAGMA wal_autocheckpoint = 1000")


async def measure(contender: str, *, grants: int, batch: int) -> tuple[float, float, float, float]:
    """(loop wall, loop CPU, process CPU) in µs per grant, and the WAL's size in MB at the end."""
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/bench.db"
        db = SqliteDatabase.open(path)
        try:
            upgrade(db.connection)
            db.serve_from_event_loop()  # as the service's stores do: the checkpointer's thread starts
            if contender == "inline":
                _inline(db)
            recorder = SqliteGrantRecorder(db)
            now = time.time()
            for _ in range(512 // batch):  # warm-up: statements prepared, pages cached
                await asyncio.gather(*(record(recorder, new_jti(), now) for _ in range(batch)))
            wall, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
            for _ in range(grants // batch):
                won = await asyncio.gather(*(record(recorder, new_jti(), now) for _ in range(batch)))
                assert all(won), "a grant was refused: the benchmark's keys collided"
            count = grants // batch * batch
            figures = [
                (time.perf_counter() - wall) / count * 1e6,
                (time.thread_time() - thread) / count * 1e6,
                (time.process_time() - process) / count * 1e6,
            ]
            wal = os.path.getsize(f"{path}-wal") / 1e6
            return figures[0], figures[1], figures[2], wal
        finally:
            db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--grants", type=int, default=25_600, help="timed grants per round (default 25,600)")
    parser.add_argument("--batch", type=int, default=32, help="concurrent grants per group commit (default 32)")
    args = parser.parse_args()
    names = ("inline", "thread")
    loop: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(1, args.rounds + 1):
        # Alternate which runs first: on this machine the second of two runs often reads faster.
        for name in names if round_ % 2 else reversed(names):
            wall, thread, process, wal = await measure(name, grants=args.grants, batch=args.batch)
            loop[name].append(wall)
            print(
                f"round {round_}: {name:>6}  loop {wall:6.1f} µs/grant (CPU {thread:5.1f}), "
                f"process CPU {process:5.1f} µs/grant, WAL {wal:5.1f} MB",
                flush=True,
            )
    print(f"\n{args.grants:,} grants per round in batches of {args.batch}, {args.rounds} interleaved rounds:")
    for name in names:
        print(f"  {name:>6}  loop median {statistics.median(loop[name]):6.1f} µs/grant")
    ratios = [t / i for t, i in zip(loop["thread"], loop["inline"], strict=True)]
    print(f"  thread / inline loop time, median of per-round ratios: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
