"""Periodic upkeep of the stores: forget what has expired, purge audit events past retention."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from forcegate.clock import Clock
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores

__all__ = ["purge_expired"]

log = logging.getLogger("forcegate.service")


async def purge_expired(stores: Stores, settings: Settings, clock: Clock) -> dict[str, int]:
    """Forget what has expired (claims, rate counters, tokens, sessions, enrollment sign-ins), mark lapsed
    enrollment codes expired, retire certificates whose rotation overlap ended, and purge audit events
    past the retention limit.

    Every worker runs this periodically; the deletes are idempotent, so workers running it at the
    same time only repeat each other. A store that is down is skipped until the next round.
    """
    now = clock.now()
    retention_days = settings.audit_retention_days
    jobs: dict[str, Callable[[], Awaitable[int]]] = {
        "replay": lambda: stores.replay.purge(now),
        "rates": lambda: stores.rates.purge(now),
        "tokens": lambda: stores.tokens.purge(now),
        "sessions": lambda: stores.sessions.purge(now),
        "enrollment_sign_ins": lambda: stores.enrollments.purge_sign_ins(now),
        # A lapsed enrollment code is refused anyway; marking it shows the queue as it is.
        "enrollment_codes": lambda: stores.enrollments.expire_enrollments(now),
        # Verifiers stop trusting a replaced certificate at its retire_at already; this keeps listings true.
        "rotated_certificates": lambda: stores.trust.retire_due_certificates(now),
        "console": lambda: stores.console.purge(now),  # expired console sessions, stale sign-in counters
    }
    if retention_days:
        jobs["audit"] = lambda: stores.audit.purge(now - retention_days * 86_400)
    purged: dict[str, int] = {}
    for name, job in jobs.items():
        try:
            purged[name] = await job()
        except Exception as exc:
            log.warning("purge of expired %s failed: %s", name, exc)
    return purged
