"""The scale-out backend as one :class:`Stores`: PostgreSQL for the registry, audit log, token records
and revocations, Redis for replay claims, sessions, rate counters and the revocations' mirror
(``FORCEGATE_REDIS_URL``; decision 0032)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from forcegate.stores.bundle import Stores
from forcegate.stores.postgres_state import PostgresGrantRecorder
from forcegate.stores.redis_state import RedisParts

__all__ = ["with_redis"]


def with_redis(database: Stores, redis: RedisParts) -> Stores:
    """``database``'s stores (from :func:`~forcegate.stores.postgres.open_postgres_stores`), with
    the per-request state moved to ``redis``. Closing the result closes both."""
    grants = database.grants
    if not isinstance(grants, PostgresGrantRecorder):
        raise TypeError("Redis goes beside the PostgreSQL stores")

    async def check() -> Mapping[str, str]:
        return {**await database.check(), "redis": await redis.check()}

    async def close() -> None:
        try:
            await redis.close()
        finally:
            await database.close()

    return dataclasses.replace(
        database,
        replay=redis.replay,
        tokens=redis.tokens(database.tokens),
        sessions=redis.sessions,
        rates=redis.rates,
        grants=redis.grants(grants.write_records),
        check=check,
        close=close,
    )
