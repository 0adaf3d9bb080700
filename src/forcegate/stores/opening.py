"""Open the stores named by the settings: the embedded SQLite default, or PostgreSQL (and Redis).

Each backend is imported only when its URL is configured, and a driver that is not installed is
named by the extra that brings it (``forcegate[postgres]``, ``forcegate[redis]``).
"""

from __future__ import annotations

import importlib.util

from forcegate._extras import missing_extra
from forcegate.errors import ConfigurationError
from forcegate.settings import POSTGRESQL_SCHEMES, Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.migrate import MigratePolicy

__all__ = ["open_stores", "require_driver"]


def require_driver(module: str, extra: str, purpose: str) -> None:
    """Refuse, naming the extra to install, when ``module`` (a database driver) is not installed.

    A :class:`ConfigurationError`: the settings ask for a backend this installation cannot run.
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a finder that refuses the name outright
        found = False
    if not found:
        raise ConfigurationError(str(missing_extra(purpose, extra, module)))


async def open_stores(settings: Settings, *, migrate: MigratePolicy = "upgrade") -> Stores:
    """Open the backend named by ``settings.effective_database_url``.

    ``migrate``: what to do with an outdated schema (:data:`~forcegate.stores.migrate.MigratePolicy`).
    """
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        from forcegate.stores.encryption import load_secret_box
        from forcegate.stores.sqlite import open_sqlite_stores

        box = load_secret_box(settings)
        return await open_sqlite_stores(url.removeprefix("sqlite:///"), box=box, migrate=migrate)
    if url.startswith(POSTGRESQL_SCHEMES):
        require_driver("asyncpg", "postgres", "a PostgreSQL database_url")
        if settings.redis_url is not None:
            require_driver("redis", "redis", "redis_url")
        from forcegate.stores.encryption import load_secret_box
        from forcegate.stores.postgres import open_postgres_stores

        stores = await open_postgres_stores(
            url, box=load_secret_box(settings), migrate=migrate, pool_size=settings.database_pool_size
        )
        if settings.redis_url is None:
            return stores
        from forcegate.stores.redis_state import open_redis
        from forcegate.stores.scale_out import with_redis

        try:
            return with_redis(stores, await open_redis(settings.redis_url, prefix=settings.redis_prefix))
        except BaseException:
            await stores.close()
            raise
    scheme = url.split(":", 1)[0]
    raise ConfigurationError(
        f"database URL scheme {scheme!r} is not supported (the embedded default is sqlite:///PATH)"
    )
