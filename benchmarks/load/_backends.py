"""The services under load: ``forcegate serve`` on the embedded default or on PostgreSQL + Redis.

* embedded: a fresh data folder (SQLite) in the run's temporary folder; 1 worker.
* scaled: ``FORCEGATE_DATABASE_URL`` naming a fresh PostgreSQL schema (``search_path``), created
  here and dropped afterwards; ``FORCEGATE_REDIS_URL`` with a unique ``FORCEGATE_REDIS_PREFIX``, whose
  keys are deleted afterwards; a fresh ``FORCEGATE_ENCRYPTION_KEY``; 2 workers.

The registry is filled through forcegate's public store API (:func:`forcegate.stores.open_stores`)
with the same settings the server reads (:func:`forcegate.settings.load_settings` over the server's
environment): N orgs sharing ONE certificate, and one Connected App for the Canvas path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from _http_load import say
from _http_servers import HOST, Server, served_from
from cryptography import x509

from forcegate.core.ids import to18
from forcegate.settings import Settings, load_settings
from forcegate.stores import Org, open_stores

__all__ = [
    "CONSUMER_KEY",
    "Backend",
    "BackendUnavailable",
    "embedded_backend",
    "org_id",
    "populate",
    "scaled_backend",
    "storage_text",
    "user_id",
    "worker_memory",
    "worker_pids",
]

CONSUMER_KEY = "3MVG9ForcegateLoadBench"
PROGRESS_EVERY_S = 15.0


class BackendUnavailable(RuntimeError):
    """The backend cannot be set up or its server does not start: reported, the run goes on."""


def org_id(n: int) -> str:
    """The ``n``-th org of the registry (a valid 18-character org id)."""
    return to18(f"00DLD{n:010d}")


def user_id(n: int) -> str:
    return to18(f"005LD{n:010d}")


@dataclass
class Backend:
    """One service configuration: its environment, its port (fixed: audiences name it), its workers."""

    name: str
    label: str
    workers: int
    port: int
    env: dict[str, str] = field(repr=False)
    tag: str = ""  # tells apart several instances of one backend (one per registry size)
    consumer_secret: str = field(repr=False, default_factory=lambda: secrets.token_urlsafe(32))
    orgs: int = 0  # registered so far
    app_added: bool = False
    data_dir: Path | None = None  # embedded: the data folder
    postgres: str | None = field(default=None, repr=False)  # scaled: the server and the schema
    schema: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    redis_prefix: str | None = None
    variant: str = ""  # --variant: which source tree the server runs (empty: the installed forcegate)

    @property
    def public_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return self.public_url + "/oauth2/token"

    def use_tree(self, name: str, tree: Path) -> None:
        """Serve forcegate from the source tree ``tree`` (its ``src/`` first on the server's PYTHONPATH)."""
        self.variant = name
        self.label = f"{self.label} [{name}]"
        self.env = served_from(self.env, tree)

    def settings(self) -> Settings:
        """What ``forcegate serve`` reads from the same environment."""
        return load_settings(self.env)

    def server(self, workdir: Path) -> Server:
        argv = [sys.executable, "-m", "forcegate.cli", "serve", "--host", HOST, "--port", str(self.port)]
        argv += ["--public-url", self.public_url, "--workers", str(self.workers), "--log-level", "info"]
        return Server(
            name=f"forcegate serve, {self.label} [{self.tag}]",
            argv=argv,
            port=self.port,
            log_path=workdir / f"forcegate-{self.name}-{self.tag}.log",
            env=self.env,
            workers=self.workers,
        )


def _base_env(port: int, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORCEGATE_")}
    env["FORCEGATE_DATA_DIR"] = str(data_dir)
    env["FORCEGATE_PUBLIC_URL"] = f"http://{HOST}:{port}"
    # Off: the benchmark drives one org far beyond any real org's rate (token_rate_limit would refuse it).
    env["FORCEGATE_TOKEN_RATE_LIMIT"] = "0"
    return env


@contextlib.contextmanager
def embedded_backend(workdir: Path, port: int, *, tag: str) -> Iterator[Backend]:
    """A fresh data folder (removed with the run's temporary folder)."""
    data_dir = workdir / f"embedded-{tag}"
    data_dir.mkdir(mode=0o700)
    env = _base_env(port, data_dir)
    yield Backend("embedded", "embedded (SQLite, 1 worker)", 1, port, env, tag=tag, data_dir=data_dir)


@contextlib.contextmanager
def scaled_backend(
    workdir: Path, port: int, *, postgres: str, redis_url: str, workers: int, tag: str
) -> Iterator[Backend]:
    """A fresh PostgreSQL schema and Redis prefix, dropped and deleted on the way out (also on failure)."""
    from forcegate.stores.encryption import generate_key

    suffix = secrets.token_hex(4)
    schema = f"fg_load_{suffix}"
    prefix = f"fg-load-{suffix}:"
    _check_reachable(postgres, redis_url)
    asyncio.run(_postgres(postgres, f'CREATE SCHEMA "{schema}"'))
    say(f"scaled [{tag}]: created PostgreSQL schema {schema}; Redis prefix {prefix}")
    try:
        data_dir = workdir / f"scaled-{tag}"
        data_dir.mkdir(mode=0o700)
        env = _base_env(port, data_dir)
        separator = "&" if urlsplit(postgres).query else "?"
        env["FORCEGATE_DATABASE_URL"] = f"{postgres}{separator}search_path={schema}"
        env["FORCEGATE_REDIS_URL"] = redis_url
        env["FORCEGATE_REDIS_PREFIX"] = prefix
        env["FORCEGATE_ENCRYPTION_KEY"] = generate_key()
        yield Backend(
            "scaled",
            f"scaled (PostgreSQL + Redis, {workers} workers)",
            workers,
            port,
            env,
            tag=tag,
            postgres=postgres,
            schema=schema,
            redis_url=redis_url,
            redis_prefix=prefix,
        )
    finally:
        # Each step on its own: one failing must not leave the other undone, nor hide the run's error.
        try:
            asyncio.run(_postgres(postgres, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            say(f"scaled [{tag}]: dropped schema {schema}")
        except Exception as exc:
            print(f"WARNING: schema {schema} could not be dropped: {type(exc).__name__}: {exc}", file=sys.stderr)
        try:
            deleted = _delete_redis_keys(redis_url, prefix)
            say(f"scaled [{tag}]: deleted {deleted:,} Redis keys under {prefix}")
        except Exception as exc:
            print(f"WARNING: Redis keys under {prefix} not deleted: {type(exc).__name__}: {exc}", file=sys.stderr)


def _check_reachable(postgres: str, redis_url: str) -> None:
    import redis

    try:
        asyncio.run(_postgres(postgres, "SELECT 1"))
    except Exception as exc:  # refused, unreachable, timed out, bad credentials
        raise BackendUnavailable(f"PostgreSQL at {_without_password(postgres)} is not reachable: {exc}") from None
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BackendUnavailable(f"Redis at {_without_password(redis_url)} is not reachable: {exc}") from None
    finally:
        client.close()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@")


async def _postgres(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def storage_text(backend: Backend) -> str:
    """How big the service's state is now: the data folder's files, or the schema's relations and the
    number of Redis keys under the run's prefix. Best effort (a figure that cannot be read is left out)."""
    if backend.data_dir is not None:
        files = [p for p in backend.data_dir.iterdir() if p.is_file()]
        return f"data folder {sum(p.stat().st_size for p in files) / 2**20:,.1f} MiB"
    parts = []
    if backend.postgres is not None and backend.schema is not None:
        with contextlib.suppress(Exception):
            size = asyncio.run(_schema_bytes(backend.postgres, backend.schema))
            parts.append(f"PostgreSQL schema {size / 2**20:,.1f} MiB")
    if backend.redis_url is not None and backend.redis_prefix is not None:
        with contextlib.suppress(Exception):
            keys = _count_redis_keys(backend.redis_url, backend.redis_prefix)
            parts.append(
                f"{keys:,} Redis keys under {backend.redis_prefix}"
                + (" (the service did not use Redis)" if keys == 0 else "")
            )
    return ", ".join(parts) or "unknown"


async def _schema_bytes(url: str, schema: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        size = await conn.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
            schema,
        )
    finally:
        await conn.close()
    return int(size)


def _count_redis_keys(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        return sum(1 for _ in client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


def _delete_redis_keys(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted


# --- the registry ---------------------------------------------------------------------------------


def populate(backend: Backend, certificate: x509.Certificate, size: int, *, concurrency: int) -> float:
    """Grow the registry to ``size`` orgs (ids :func:`org_id` ``0 .. size - 1``); the seconds it took.

    The first call also registers the Canvas app. Orgs are added by ``concurrency`` tasks sharing one
    ``Stores``: on SQLite the calls run inline (one writer), on PostgreSQL they overlap.
    """
    start = backend.orgs
    if size <= start and backend.app_added:
        return 0.0
    try:
        elapsed = asyncio.run(_populate(backend, certificate, start, size, concurrency=concurrency))
    except Exception as exc:  # a refused setting, a backend not implemented (yet), a server down
        raise BackendUnavailable(
            f"forcegate's stores could not be opened with the {backend.name} settings: {type(exc).__name__}: {exc}"
        ) from exc
    backend.orgs = max(size, start)
    return elapsed


async def _populate(
    backend: Backend, certificate: x509.Certificate, start: int, stop: int, *, concurrency: int
) -> float:
    stores = await open_stores(backend.settings())
    try:
        if not backend.app_added:
            await stores.trust.add_app(consumer_key=CONSUMER_KEY, name="load benchmark", secret=backend.consumer_secret)
            backend.app_added = True
        began = time.perf_counter()
        numbers = iter(range(start, stop))
        added = 0

        async def worker() -> None:
            nonlocal added
            for n in numbers:  # shared iterator: each number is taken by exactly one worker
                oid = org_id(n)
                # Bound to the Connected App: its Canvas requests may open sessions for the org (decision 0013).
                org = Org(org_id=oid, name=f"load org {n}", scopes=("api",))
                await stores.trust.add_org(org, apps=(CONSUMER_KEY,))
                # One certificate for every org, on purpose (the registry refuses it otherwise).
                await stores.trust.add_certificate(oid, certificate, label="load", shared=True)
                added += 1

        async def progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY_S)
                say(f"  {backend.name} [{backend.tag}]: {start + added:,} of {stop:,} orgs registered")

        reporter = asyncio.create_task(progress())
        try:
            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        finally:
            reporter.cancel()
        return time.perf_counter() - began
    finally:
        await stores.close()


def sample_orgs(size: int, count: int) -> list[str]:
    """``count`` org ids spread evenly over the registry's ``size`` orgs (all of them if fewer)."""
    count = min(size, count)
    return [org_id(i * size // count) for i in range(count)]


# --- memory ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    pid: int
    rss_kib: int  # VmRSS
    peak_kib: int  # VmHWM


def _status_kib(pid: int) -> tuple[int, int] | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text(encoding="ascii", errors="replace")
                cmdline = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmdline:
                found.append(int(entry.name))
    return sorted(found)


def worker_pids(server: Server) -> list[int]:
    """The serve process's children (uvicorn's workers), or the serve process itself when it has none
    (one worker runs in the serve process)."""
    assert server.process is not None
    return _children(server.process.pid) or [server.process.pid]


def worker_memory(server: Server) -> list[Memory]:
    """RSS and peak RSS of each worker (:func:`worker_pids`)."""
    figures = []
    for pid in worker_pids(server):
        status = _status_kib(pid)
        if status is not None:
            figures.append(Memory(pid, *status))
    return figures


def memory_text(figures: Sequence[Memory]) -> str:
    return ", ".join(
        f"pid {m.pid}: VmRSS {m.rss_kib / 1024:,.1f} MiB (VmHWM {m.peak_kib / 1024:,.1f} MiB)" for m in figures
    )
