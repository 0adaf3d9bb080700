"""``--profile``: py-spy samples of every worker during the measured runs, filed by category.

py-spy (``.venv/bin/py-spy``; ptrace: root or CAP_SYS_PTRACE) samples each worker at 250 Hz, on-CPU
only, in ``--nonblocking`` mode (the worker is not paused; a torn stack now and then is filed as
``other``). Each sample goes under the category of its innermost frame that matches one; if none does,
the next frame outwards is tried (time in C code — the event loop, asyncpg's Cython protocol,
hiredis, cryptography, sqlite3 — counts to the Python frame that called it). A category's µs per
request is its share of the samples times the worker CPU per request (/proc, user + system: system
time, mostly the sockets' send/receive/poll calls, is sampled at the Python frame that made them).
Categories are matched against py-spy's ``function (path:line)`` frames as regular expressions.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CATEGORIES", "Profile", "Sampler", "categorize", "raw_stacks"]

#: (category, patterns): the first category one of whose patterns matches wins, innermost frame first.
CATEGORIES: Sequence[tuple[str, tuple[str, ...]]] = (
    ("RS256 verify of an assertion (cryptography)", (r"_rsa\.<locals>\.verify",)),
    ("ES256 verify of an access token (cryptography)", (r"_ecdsa\.<locals>\.verify",)),
    ("ES256 sign: the token, or the check of one (cryptography)", (r"_es256 \(", r"AccessTokenIssuer\.issue")),
    ("HMAC-SHA256 of a Canvas request", (r"hmac\.py", r"forcegate/core/canvas")),
    ("Redis: command packing (redis-py)", (r"pack_command", r"redis/_parsers/encoders")),
    ("Redis: reply parsing (redis-py parser, hiredis)", (r"redis/_parsers/",)),
    (
        "Redis: connection pool (redis-py)",
        (r"get_connection \(", r"release \(.*redis/", r"_get_free_connections", r"make_connection", r"can_read_dest"),
    ),
    ("Redis: connection send/read (redis-py)", (r"redis/asyncio/connection\.py", r"redis/connection\.py")),
    ("Redis: client, retry, observability (redis-py)", (r"/redis/",)),
    ("asyncpg: pool (acquire, release, reset)", (r"asyncpg/pool\.py",)),
    ("asyncpg: connection, statements, protocol", (r"asyncpg/",)),
    ("SQLite: statements and COMMIT", (r"sqlite_db\.py", r"record_grant\.<locals>\.unit", r"sqlite3")),
    ("metrics", (r"metric_series\.py", r"server/metrics\.py", r"observability\.py", r"prometheus_client")),
    ("forcegate: store wrappers (instrumented.py)", (r"stores/instrumented\.py",)),
    ("forcegate: Redis stores (Python side)", (r"stores/redis_",)),
    ("forcegate: PostgreSQL stores (Python side)", (r"stores/postgres",)),
    ("forcegate: other stores (Python side)", (r"forcegate/stores/",)),
    ("HTTP (uvicorn, httptools, forcegate's protocol)", (r"httptools", r"uvicorn", r"server/protocol\.py")),
    # The loop itself (polling, callbacks, and the C protocols it calls into: asyncpg's, httptools');
    # asyncio's streams, timeouts, tasks and locks count to whoever called them.
    ("event loop (uvloop, asyncio)", (r"uvloop", r"asyncio/(?:runners|base_events|events)\.py", r"selectors")),
    ("forcegate: core (parsing, claims, grant)", (r"forcegate/core/",)),
    ("forcegate: service", (r"forcegate/service/",)),
    ("forcegate: server (dispatch, request, responses)", (r"forcegate/server/",)),
)
_COMPILED = [(name, re.compile("|".join(patterns))) for name, patterns in CATEGORIES]


def categorize(stack: Sequence[str]) -> str:
    """The category of a stack (outermost frame first)."""
    for frame in reversed(stack):
        for name, pattern in _COMPILED:
            if pattern.search(frame):
                return name
    return "other"


def raw_stacks(raw: Path) -> Iterator[tuple[list[str], int]]:
    """py-spy's ``--format raw``: per line, the frames joined by ``;``, a space, the sample count."""
    for line in raw.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if count_text.isdigit():
            yield stack_text.split(";"), int(count_text)


@dataclass
class Profile:
    """Samples of one instance's workers over its measured runs, and the CPU they stand for."""

    categories: collections.Counter[str] = field(default_factory=collections.Counter)
    leaves: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: int = 0

    def add(self, raw: Path) -> None:
        if not raw.exists():
            return
        for stack, count in raw_stacks(raw):
            self.categories[categorize(stack)] += count
            self.leaves[_short(stack[-1])] += count
            self.samples += count

    def lines(self, us_per_request: float, *, flat: int = 12) -> list[str]:
        """The table: each category's share and µs per request, then the hottest innermost frames."""
        if not self.samples:
            return ["  profile: no samples (py-spy missing, or not allowed to attach: run as root)"]
        out = [f"  profile: {self.samples:,} samples over the measured runs; {us_per_request:.0f} µs CPU/request"]
        for name, count in self.categories.most_common():
            share = count / self.samples
            out.append(f"    {share:6.1%} {share * us_per_request:7.1f} µs  {name}")
        out.append(f"    innermost frames, top {flat}:")
        for frame, count in self.leaves.most_common(flat):
            out.append(f"      {count / self.samples:6.1%}  {frame[:120]}")
        return out


def _short(frame: str) -> str:
    """``function (…/site-packages/pkg/mod.py:12)`` → ``function (pkg/mod.py:12)``."""
    return re.sub(r"\(.*?(?:site-packages|src)/", "(", frame)


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


class Sampler:
    """py-spy on each of ``pids`` for ``seconds``, in threads; :meth:`join` waits for the files."""

    def __init__(self, pids: Sequence[int], seconds: int, out: Path) -> None:
        self.files = [out.with_name(f"{out.name}-{pid}.txt") for pid in pids]
        py_spy = _py_spy()
        self._threads = [
            threading.Thread(target=_record, args=(py_spy, pid, max(1, seconds), path), daemon=True)
            for pid, path in zip(pids, self.files, strict=True)
            if py_spy is not None
        ]
        for thread in self._threads:
            thread.start()

    def join(self) -> list[Path]:
        for thread in self._threads:
            thread.join()
        return self.files


def _record(py_spy: str, pid: int, seconds: int, out: Path) -> None:
    subprocess.run(  # noqa: S603 - fixed argv
        [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
         "--format", "raw", "--nonblocking", "--output", str(out)],
        check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
