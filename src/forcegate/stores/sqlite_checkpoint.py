"""WAL checkpoints on a thread of their own, off the event loop (decision 0037).

SQLite's automatic checkpoint runs inside the ``COMMIT`` that crosses its threshold: that commit
copies the WAL's pages back into the database file and syncs both files, and on a server the
committing thread is the event loop. Under token load that blocked the loop for ~45 µs per grant,
most of it waiting for the disk rather than computing.

The checkpointer has its own connection to the same file and runs ``wal_checkpoint(PASSIVE)`` (which
never waits for a writer or a reader) when a commit pokes it. ``sqlite3`` releases the GIL inside the
call, so the loop keeps serving meanwhile. Between two checkpoints it pauses for as long as the
commits take to write about :data:`FRAMES_PER_CHECKPOINT` frames (SQLite's own threshold), between
:data:`CHECKPOINT_INTERVAL` and :data:`LONGEST_PAUSE`: checkpointing more often copies the same hot
pages (the ends of the append-only indexes, the counters) more often, for more CPU and more syncs.

Copying every frame is not enough for the WAL to start over from its beginning: a writer restarts it
only when it begins a transaction while nothing is left to copy, and under load the next commit
usually lands between the thread's checkpoint and that moment, so the WAL would grow without bound.
When a checkpoint leaves :data:`WAL_FRAMES_CAP` frames or more in the WAL, the checkpointer marks a
checkpoint **due** on the writing connection: its next commit runs one passive checkpoint itself,
which has only the frames since the thread's to copy, and which no commit can overtake — the write
after it starts the WAL over. That is SQLite's own automatic checkpoint, kept for the rare case and
made small.

Durability is SQLite's: a checkpoint syncs the WAL before it overwrites the database file and syncs
the file after, whichever connection runs it (both use ``synchronous = NORMAL``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time

__all__ = ["CHECKPOINT_INTERVAL", "FRAMES_PER_CHECKPOINT", "LONGEST_PAUSE", "WAL_FRAMES_CAP", "Checkpointer", "is_busy"]

log = logging.getLogger("forcegate.stores.sqlite")

#: The shortest pause between two checkpoints (seconds); commits meanwhile are copied by the next one.
#: Each checkpoint also takes the GIL from the loop twice (when the thread wakes, when the call returns).
CHECKPOINT_INTERVAL = 0.1
#: The longest pause while commits keep coming (a commit left behind is copied within it).
LONGEST_PAUSE = 1.0
#: The frames a checkpoint aims to copy: the pause follows the write rate to keep near it.
FRAMES_PER_CHECKPOINT = 1000
#: Frames left in the WAL after a checkpoint past which the writing connection checkpoints once
#: itself so that the WAL starts over (16 MB of 4 KiB pages).
WAL_FRAMES_CAP = 4000
#: Extra passive checkpoints the thread runs past the cap, and the frames a pass must copy for the
#: next to be worth it.
_CATCH_UP_PASSES = 3
_SMALL = 64
#: How long the thread's connection waits out a transient lock (opening, recovery), in seconds.
_OPEN_WAIT = 0.1


class Checkpointer:
    """Checkpoints the WAL of the database at ``path`` on a daemon thread.

    The connection that writes calls :meth:`committed` after each commit.
    """

    def __init__(
        self,
        path: str,
        *,
        interval: float = CHECKPOINT_INTERVAL,
        frames_cap: int = WAL_FRAMES_CAP,
        frames_per_checkpoint: int = FRAMES_PER_CHECKPOINT,
    ) -> None:
        self._conn = sqlite3.connect(path, timeout=_OPEN_WAIT, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error:
            self._conn.close()
            raise
        self._shortest = interval
        self._longest = max(interval, LONGEST_PAUSE)
        self._pause = interval
        self._frames_per_checkpoint = frames_per_checkpoint
        self._frames_before = 0  # the WAL's frames at the last checkpoint
        self._frames_cap = frames_cap
        self._wake = threading.Event()
        self._stop = False
        self._next = 0.0  # the monotonic time before which a commit does not wake the thread
        self._left = False  # a commit did not wake it (too soon after the last checkpoint)
        self._failing = False
        #: Set by the thread, cleared by the writer: the writer's next commit checkpoints once itself.
        self.due = False
        #: The WAL's frames and how many of them were copied, as the thread's last checkpoint found them.
        self.last: tuple[int, int] = (0, 0)
        self.checkpoints = 0
        self.handed_back = 0  # checkpoints the writing connection ran because one was due
        self._thread = threading.Thread(target=self._run, name="forcegate-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, conn: sqlite3.Connection) -> None:
        """``conn`` (the writing connection) committed: checkpoint soon, or now on ``conn`` if one is due."""
        if self.due:
            # The commit stands whatever this says. Busy (the thread is checkpointing): again after the
            # next commit, which costs that commit nothing but the failed attempt.
            with contextlib.suppress(sqlite3.Error):
                if conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0:
                    self.due = False
                    self.handed_back += 1
        if self._wake.is_set():
            return
        if time.monotonic() >= self._next:
            self._wake.set()
        else:
            self._left = True

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and close its connection."""
        self._stop = True
        self._wake.set()
        self._thread.join()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def _run(self) -> None:
        while True:
            woken = self._wake.wait(self._longest)
            if self._stop:
                return
            if not woken and not self._left:
                continue
            self._wake.clear()
            self._left = False
            self._checkpoint()
            self._next = time.monotonic() + self._pause

    def _checkpoint(self) -> None:
        try:
            _, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            # Past the cap, copy what was committed during that checkpoint too (less each pass, as
            # long as copying outruns committing), so that the due checkpoint left to the writer is small.
            for _ in range(_CATCH_UP_PASSES):
                if frames < self._frames_cap:
                    break
                settled = copied
                _, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if copied - settled < _SMALL:
                    break
        except sqlite3.Error as exc:
            # Never fatal: the next commit pokes again and the WAL only grows meanwhile. Said once per
            # run of failures, not once per commit.
            if not self._failing:
                log.warning("WAL checkpoint failed (will retry): %s", exc)
                self._failing = True
            return
        self._failing = False
        self.last = (frames, copied)
        self.checkpoints += 1
        if frames >= self._frames_before:
            # No restart since the last checkpoint: the frames it added measure the write rate. (After
            # a restart they undercount it: the pause stays.) Lengthened at most twofold at a time.
            wanted = self._pause * self._frames_per_checkpoint / max(frames - self._frames_before, 1)
            self._pause = min(self._longest, max(self._shortest, min(wanted, 2 * self._pause)))
        self._frames_before = frames
        if frames >= self._frames_cap:
            self.due = True


def is_busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (``SQLITE_BUSY`` / ``SQLITE_LOCKED``, any extended code)."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
