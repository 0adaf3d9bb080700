"""The scale-out backend as one :class:`Stores`: PostgreSQL for the registry, audit log, token records,
revocations, single-use claims and the token endpoint's rate counters; Redis for sessions, the failure
limits' counters and the revocations' mirror (``FORCEGATE_REDIS_URL``; decisions 0032 and 0035)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from forcegate.stores.bundle import Stores
from forcegate.stores.protocols import RateCounter
from forcegate.stores.redis_state import RedisParts

__all__ = ["with_redis"]


def with_redis(database: Stores, redis: RedisParts) -> Stores:
    """``database``'s stores (from :func:`~forcegate.stores.postgres.open_postgres_stores`), with
    sessions, the shared failure counters and the revocations' mirror on ``redis``. Closing the
    result closes both.

    A grant stays ONE PostgreSQL statement (rate hit, claim, token record, audit row: decision 0035),
    and a direct JWT's claim is made there too, so both kinds of single use are decided in one place.
    """

    async def check() -> Mapping[str, str]:
        return {**await database.check(), "redis": await redis.check()}

    async def close() -> None:
        try:
            await redis.close()
        finally:
            await database.close()

    return dataclasses.replace(
        database,
        tokens=redis.tokens(database.tokens),
        sessions=redis.sessions,
        rates=_SharedRates(redis.rates, database.rates),
        check=check,
        close=close,
    )


class _SharedRates:
    """Redis's counters (the failure limits', hit by every worker on every refused attempt: kept off the
    database), whose purge also forgets the token endpoint's, which PostgreSQL counts with the grants."""

    def __init__(self, shared: RateCounter, grants: RateCounter) -> None:
        self._shared = shared
        self._grants = grants

    async def hit(self, key: str, window_start: float, window_seconds: int, *, now: float) -> int:
        return await self._shared.hit(key, window_start, window_seconds, now=now)

    async def refund(self, key: str, window_start: float) -> None:
        await self._shared.refund(key, window_start)

    async def purge(self, now: float) -> int:
        return await self._shared.purge(now) + await self._grants.purge(now)
