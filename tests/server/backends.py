"""The scale-out backends for the server tests: real PostgreSQL and Redis, shared or private.

* :func:`shared_backend` — the machine's servers (``FORCEGATE_TEST_DATABASE_URL``, default
  ``postgresql://postgres@127.0.0.1:5432/test``; ``FORCEGATE_TEST_REDIS_URL``, default
  ``redis://127.0.0.1:6379/0``), isolated per test by a fresh schema and a fresh key prefix, both
  removed afterwards. A server that does not answer fails the test (never a skip): ``.ci/run``
  makes sure both run.
* :class:`PrivatePostgres` (and :class:`stores.redis_support.PrivateServer` for Redis) — throwaway
  servers of the same binaries on their own ports, for the tests that stop and restart them (the
  shared ones are never stopped).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from stores import redis_support
from stores.stores_support import create_schema, drop_schema, run, schema_url

START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Backend:
    """What a forcegate process needs to use one scale-out deployment's state."""

    database_url: str
    redis_url: str | None
    redis_prefix: str
    encryption_key: str

    def settings(self) -> dict[str, Any]:
        """Keyword overrides for :class:`~forcegate.settings.Settings`."""
        return {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_prefix": self.redis_prefix,
            "encryption_key": self.encryption_key,
        }

    def environ(self) -> dict[str, str]:
        """The same, as ``FORCEGATE_*`` variables for a ``forcegate serve`` process."""
        return {f"FORCEGATE_{k.upper()}": str(v) for k, v in self.settings().items() if v is not None}


def new_encryption_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


@contextlib.contextmanager
def shared_backend(*, with_redis: bool = True) -> Iterator[Backend]:
    """A fresh schema on the shared PostgreSQL and a fresh key prefix on the shared Redis, removed afterwards."""
    schema = run(create_schema())
    redis_url = redis_support.shared_url()
    prefix = redis_support.unique("fg-test") + ":"
    if with_redis:
        redis_support.require_server(redis_url)
    try:
        yield Backend(
            database_url=schema_url(schema),
            redis_url=redis_url if with_redis else None,
            redis_prefix=prefix,
            encryption_key=new_encryption_key(),
        )
    finally:
        run(drop_schema(schema))
        if with_redis:
            redis_support.delete_prefixed(redis_url, prefix)


def _wait(check: Any, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.05)


def _postgres_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise AssertionError("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    return str(versions[-1] / name)


class PrivatePostgres:
    """A PostgreSQL server of our own (initdb, trust auth on 127.0.0.1:``port``), in its own folder."""

    def __init__(self) -> None:
        # The server refuses to run as root: when the tests do (CI), it runs as the postgres user,
        # in a folder of its own (pytest's tmp_path is private to root).
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.root = Path(tempfile.mkdtemp(prefix="forcegate-pg-"))
        if self._as:
            shutil.chown(self.root, "postgres")
        self.data = self.root / "pgdata"
        self.port = redis_support.free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run(_postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as, *argv], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        log = str(self.root / "log")
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        _wait(self.answers, "the private PostgreSQL")

    def stop(self) -> None:
        """Stop at once, as a crash would (``immediate``: no checkpoint, recovery on the next start)."""
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def answers(self) -> bool:
        async def probe() -> bool:
            try:
                conn = await asyncpg.connect(self.url, timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                return False
            await conn.close()
            return True

        return asyncio.run(probe())

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
