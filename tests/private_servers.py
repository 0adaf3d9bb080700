"""Throwaway PostgreSQL and Redis servers for the tests, and the choice of the servers a test run uses.

A run's servers are chosen once, at pytest start (``tests/conftest.py``), each on its own:

1. ``FORCEGATE_TEST_DATABASE_URL`` / ``FORCEGATE_TEST_REDIS_URL`` set: that server, as is. One that
   does not answer fails the tests that need it (never a skip).
2. Unset, and the default server answers (``postgresql://postgres@127.0.0.1:5432/test``,
   ``redis://127.0.0.1:6379/0``): the machine's.
3. Otherwise, or with ``FORCEGATE_TEST_SERVERS=private``: a private server, started in a new temporary
   folder on a free 127.0.0.1 port; the variable is set for the rest of the run (``forcegate serve``
   processes the tests start inherit it), and the server is stopped and its folder deleted at exit.

PostgreSQL refuses to run as root: as root (CI), ``initdb`` and ``postgres`` run as the ``postgres``
system user (``nobody`` when there is none) through ``setpriv``, in a folder given to that user.
Every server here is a child of the thread that started it and gets a signal when that thread dies
(``setpriv --pdeathsig``), so even a killed test run leaves no server running.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import redis

from forcegate.stores.postgres_db import describe
from forcegate.stores.redis_client import parse_redis_url

MODE_VARIABLE = "FORCEGATE_TEST_SERVERS"
MODES = ("auto", "private")
DATABASE_VARIABLE = "FORCEGATE_TEST_DATABASE_URL"
REDIS_VARIABLE = "FORCEGATE_TEST_REDIS_URL"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

START_TIMEOUT = 30.0
PROBE_TIMEOUT = 3.0
#: A run's own PostgreSQL holds nothing worth a flush to disk.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class ServerError(Exception):
    """A private server could not be set up or did not come up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _setpriv(*options: str) -> list[str]:
    """``setpriv OPTIONS --`` (util-linux), or nothing where it is missing (the signal is then lost)."""
    found = shutil.which("setpriv")
    return [found, *options, "--"] if found else []


def _wait_until(answers: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not answers():
        if proc.poll() is not None:
            raise ServerError(f"{what} exited ({proc.returncode}): {_tail(log)}")
        if time.monotonic() > deadline:
            raise ServerError(f"{what} did not answer within {START_TIMEOUT:.0f} s: {_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-500:].strip()
    except OSError:
        return "(no log)"


def _end(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` and wait; SIGKILL what has not exited within 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- PostgreSQL --------------------------------------------------------------------------------------


def postgres_binary(name: str) -> str:
    """``name`` of the newest installed server (Debian: /usr/lib/postgresql/<version>/bin), else PATH's."""
    versions = sorted(
        (path for path in Path("/usr/lib/postgresql").glob(f"*/bin/{name}") if path.parent.parent.name.isdigit()),
        key=lambda path: int(path.parent.parent.name),
    )
    found = str(versions[-1]) if versions else shutil.which(name)
    if found is None:
        raise ServerError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def _server_account() -> tuple[int, int] | None:
    """The (uid, gid) PostgreSQL runs as when we are root: ``postgres`` or else ``nobody``; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise ServerError("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")


class PrivatePostgres:
    """A PostgreSQL server of our own: ``initdb`` (trust auth) in a new temporary folder, on 127.0.0.1:``port``.

    Start it from a thread that outlives it: the server gets SIGQUIT when that thread ends.
    """

    def __init__(self, *, settings: Mapping[str, str] | None = None) -> None:
        account = _server_account()
        if account is not None and not shutil.which("setpriv"):
            raise ServerError("running as root, PostgreSQL needs setpriv (util-linux) to run as another user")
        as_account = [] if account is None else [f"--reuid={account[0]}", f"--regid={account[1]}", "--clear-groups"]
        self._prefix = _setpriv(*as_account, "--pdeathsig=QUIT")
        # Not pytest's tmp_path: as root that is private to root, and the server user must reach its folder.
        self.directory = Path(tempfile.mkdtemp(prefix="forcegate-pg-"))
        try:
            if account is not None:
                os.chown(self.directory, *account)
            self.data = self.directory / "data"
            self.port = free_port()
            self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
            # TCP only: a Unix socket's path has a length limit a deep temporary folder can exceed.
            self._settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": "", **(settings or {})}
            self.proc: subprocess.Popen[bytes] | None = None
            initdb = [postgres_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
            done = subprocess.run(
                [*self._prefix, *initdb, "--no-sync", "-E", "UTF8", "--no-locale"],
                cwd=self.directory,
                capture_output=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                raise ServerError(f"initdb failed: {done.stderr.decode(errors='replace')[-500:].strip()}")
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    def start(self) -> None:
        """Start the server on its port and wait until it answers."""
        log = self.directory / "log"
        options = [arg for key, value in self._settings.items() for arg in ("-c", f"{key}={value}")]
        command = [postgres_binary("postgres"), "-D", str(self.data), "-p", str(self.port), *options]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self._prefix, *command],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_until(self.answers, self.proc, f"the private PostgreSQL on port {self.port}", log)

    def stop(self) -> None:
        """Stop at once, as a crash would (SIGQUIT, immediate shutdown: recovery on the next start)."""
        if self.proc is not None:
            _end(self.proc, signal.SIGQUIT)
        self.proc = None

    def answers(self) -> bool:
        return postgres_problem(self.url) is None

    def close(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def postgres_problem(url: str) -> str | None:
    """None when the PostgreSQL server at ``url`` accepts a connection and a query, else why not."""

    async def probe() -> str | None:
        try:
            conn = await asyncpg.connect(url, timeout=PROBE_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return str(exc) or type(exc).__name__
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
        return None

    return asyncio.run(probe())


# --- Redis -------------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise ServerError("redis-server is not on PATH (apt-get install redis-server)")
    return path


def redis_problem(url: str) -> str | None:
    """None when the Redis server at ``url`` answers PING, else why not."""
    try:
        with redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


class PrivateRedis:
    """A ``redis-server`` this process started (and alone stops), restartable on the same port.

    Nothing is persisted (``--save "" --appendonly no``): a restart comes back empty.
    """

    def __init__(self, directory: Path, *args: str, port: int | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        log = self.directory / "redis.log"
        command = [redis_server_binary(), *self.args, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory), "--logfile", str(log)]
        self.proc = subprocess.Popen(
            [*_setpriv("--pdeathsig=TERM"), *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(lambda: redis_problem(self.url) is None, self.proc, f"redis-server on port {self.port}", log)
        return self

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            _end(self.proc)
        self.proc = None

    def close(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def running(*servers: PrivateRedis) -> Iterator[None]:
    """Start ``servers``; stop them all when the block ends."""
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in servers:
            server.stop()


# --- the servers of one test run -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    name: str
    variable: str
    default: str
    describe: Callable[[str], str]
    problem: Callable[[str], str | None]
    start: Callable[[], PrivatePostgres | PrivateRedis]


def _start_postgres() -> PrivatePostgres:
    server = PrivatePostgres(settings=THROWAWAY_SETTINGS)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def _start_redis() -> PrivateRedis:
    server = PrivateRedis(Path(tempfile.mkdtemp(prefix="forcegate-redis-")))
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


KINDS = (
    _Kind("PostgreSQL", DATABASE_VARIABLE, DEFAULT_DATABASE_URL, describe, postgres_problem, _start_postgres),
    _Kind(
        "Redis",
        REDIS_VARIABLE,
        DEFAULT_REDIS_URL,
        lambda url: parse_redis_url(url).describe(),
        redis_problem,
        _start_redis,
    ),
)


class RunServers:
    """The PostgreSQL and Redis servers one test run uses, and the private ones it started (and alone stops)."""

    def __init__(self) -> None:
        self.chosen: dict[str, str] = {}  # kind -> which server, for the report header
        self.problems: dict[str, str] = {}  # variable -> why no server could be provided
        self.private: list[PrivatePostgres | PrivateRedis] = []

    def prepare(self, environ: MutableMapping[str, str]) -> None:
        """Choose each server (module docstring), starting private ones and setting their variables in ``environ``."""
        mode = environ.get(MODE_VARIABLE) or "auto"
        if mode not in MODES:
            raise pytest.UsageError(f"{MODE_VARIABLE}={mode!r}: expected one of {', '.join(MODES)}")
        for kind in KINDS:
            self._choose(kind, environ, forced=mode == "private")

    def _choose(self, kind: _Kind, environ: MutableMapping[str, str], *, forced: bool) -> None:
        given = environ.get(kind.variable)
        if given:
            self.chosen[kind.name] = f"{kind.describe(given)} from {kind.variable}"
            return
        if forced:
            why = f"{MODE_VARIABLE}=private"
        else:
            problem = kind.problem(kind.default)
            if problem is None:
                self.chosen[kind.name] = f"the machine's at {kind.describe(kind.default)}"
                return
            why = f"none at {kind.describe(kind.default)}: {problem}"
        try:
            server = kind.start()
        except (ServerError, OSError, subprocess.SubprocessError) as exc:
            if forced:
                raise pytest.UsageError(f"{why}, but no private {kind.name} server could be started: {exc}") from exc
            self.problems[kind.variable] = f"no private server could be started: {exc}"
            self.chosen[kind.name] = f"none ({why}; {self.problems[kind.variable]})"
            return
        self.private.append(server)
        environ[kind.variable] = server.url
        self.chosen[kind.name] = f"private at {kind.describe(server.url)} in {server.directory} ({why})"

    def header(self) -> str:
        return "forcegate test servers: " + "; ".join(f"{kind}: {which}" for kind, which in self.chosen.items())

    def close(self) -> None:
        """Stop the private servers and delete their folders (idempotent)."""
        while self.private:
            self.private.pop().close()


_RUN: RunServers | None = None


def prepare_run(environ: MutableMapping[str, str]) -> RunServers:
    """Choose this run's servers; the private ones stop at :meth:`RunServers.close` or, failing that, at exit."""
    global _RUN  # one run per process: the store tests' failure messages read it
    run = RunServers()
    atexit.register(run.close)
    _RUN = run
    run.prepare(environ)
    return run


def unavailable(variable: str) -> str:
    """Why this run has no server for ``variable`` (to add to a failure message), or an empty string."""
    problem = _RUN.problems.get(variable) if _RUN is not None else None
    return f"; {problem}" if problem else ""
