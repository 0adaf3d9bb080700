"""One object holding every store the service uses.

:func:`forcegate.stores.opening.open_stores` opens it from the settings. This module imports no
backend, so every backend can build a :class:`Stores` without an import cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from forcegate.stores.protocols import (
    AuditLog,
    ConsoleStore,
    EnrollmentStore,
    GrantRecorder,
    NotificationStore,
    RateCounter,
    ReplayCache,
    ServiceKeyStore,
    SessionStore,
    TokenStore,
    TrustStore,
)

__all__ = ["Stores"]


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
    enrollments: EnrollmentStore
    console: ConsoleStore
    notifications: NotificationStore
    check: Callable[[], Awaitable[Mapping[str, str]]]
    close: Callable[[], Awaitable[None]]
