"""The ``stores`` fixture, parametrized over backends: a new backend is one more entry in ``BACKENDS``.

Every test gets fresh, empty storage (a new SQLite file; a new PostgreSQL schema, dropped afterwards).
``backend.open()`` gives further handles on the same data, the way another worker process or the CLI
would see it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from forcegate.stores import Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.postgres import open_postgres_stores
from forcegate.stores.redis_state import open_redis
from forcegate.stores.scale_out import with_redis
from forcegate.stores.sqlite import open_sqlite_stores
from stores import redis_support
from stores.stores_support import Backend, create_schema, drop_schema, run, schema_url

BACKENDS = ["sqlite", "postgresql", "postgresql+redis"]


def _sqlite(request: pytest.FixtureRequest) -> Backend:
    box = SecretBox(os.urandom(32))
    path = str(request.getfixturevalue("tmp_path") / "data" / "forcegate.db")
    return Backend("sqlite", lambda: open_sqlite_stores(path, box=box))


def _postgresql(request: pytest.FixtureRequest) -> Backend:
    box = SecretBox(os.urandom(32))
    url: str = request.getfixturevalue("pg_url")
    return Backend("postgresql", lambda: open_postgres_stores(url, box=box))


def _postgresql_redis(request: pytest.FixtureRequest) -> Backend:
    """PostgreSQL, with replay claims, revocations and sessions on Redis under a fresh key prefix."""
    box = SecretBox(os.urandom(32))
    url: str = request.getfixturevalue("pg_url")
    prefix: str = request.getfixturevalue("redis_prefix")

    async def open_() -> Stores:
        database = await open_postgres_stores(url, box=box)
        return with_redis(database, await open_redis(redis_support.shared_url(), prefix=prefix))

    return Backend("postgresql+redis", open_, expires_by_itself=True, redis_prefix=prefix)


_FACTORIES: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "postgresql+redis": _postgresql_redis,
}


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the Redis test server; its keys are deleted when the test ends."""
    url = redis_support.shared_url()
    redis_support.require_server(url)
    prefix = redis_support.unique("fg-test") + ":"
    try:
        yield prefix
    finally:
        redis_support.delete_prefixed(url, prefix)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty schema on the PostgreSQL test server, dropped when the test ends."""
    schema = run(create_schema())
    try:
        yield schema_url(schema)
    finally:
        run(drop_schema(schema))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return _FACTORIES[request.param](request)


@pytest.fixture
def open_stores(backend: Backend) -> Iterator[Callable[[], Stores]]:
    """Open handles on the test's storage; all are closed when the test ends."""
    opened: list[Stores] = []

    def open_() -> Stores:
        handle = run(backend.open())
        opened.append(handle)
        return handle

    yield open_
    for handle in opened:
        run(handle.close())


@pytest.fixture
def stores(open_stores: Callable[[], Stores]) -> Stores:
    return open_stores()
