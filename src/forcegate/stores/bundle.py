"""One object holding every store the service uses, opened from the settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from forcegate.errors import ConfigurationError
from forcegate.settings import POSTGRESQL_SCHEMES, Settings
from forcegate.stores.migrate import MigratePolicy
from forcegate.stores.protocols import (
    AuditLog,
    GrantRecorder,
    RateCounter,
    ReplayCache,
    ServiceKeyStore,
    SessionStore,
    TokenStore,
    TrustStore,
)

__all__ = ["Stores", "open_stores"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stores:
    """The stores of one process. ``check`` reports each dependency's health for ``/readyz``
    (name -> ``"ok"`` or a short reason); ``close`` releases connections."""

    trust: TrustStore
    replay: ReplayCache
    tokens: TokenStore
    sessions: SessionStore
    audit: AuditLog
    keys: ServiceKeyStore
    grants: GrantRecorder
    rates: RateCounter
    check: Callable[[], Awaitable[Mapping[str, str]]]
    close: Callable[[], Awaitable[None]]


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
