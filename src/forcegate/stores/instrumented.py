"""Stores whose every call is observed: how long it took and whether the store failed.

:func:`instrument` wraps each store of a :class:`Stores` so that every coroutine method its protocol
declares is timed by a :class:`StoreObserver` (the service's metrics and tracing, see
:mod:`forcegate.server.observability`). The wrappers are built once, when the service starts: a call
costs one extra coroutine frame and the observer's own work, never an attribute lookup through
``__getattr__``. Anything else a backend offers (its own methods, used by the tests and the CLI) is
reached through the original object. This module knows no metrics or tracing library.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from forcegate.stores.bundle import Stores
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

__all__ = ["STORE_PROTOCOLS", "StoreObserver", "instrument"]

#: Each store of :class:`Stores`, and the protocol whose coroutine methods are observed.
STORE_PROTOCOLS: dict[str, type] = {
    "trust": TrustStore,
    "replay": ReplayCache,
    "tokens": TokenStore,
    "sessions": SessionStore,
    "audit": AuditLog,
    "keys": ServiceKeyStore,
    "grants": GrantRecorder,
    "rates": RateCounter,
    "enrollments": EnrollmentStore,
    "console": ConsoleStore,
    "notifications": NotificationStore,
}

_T = TypeVar("_T")


class StoreObserver(Protocol):
    """Told of each store call: :meth:`store_begin` before it, :meth:`store_end` after it with what it raised."""

    def store_begin(self, store: str, operation: str) -> Any:
        """Start observing; the returned handle is passed to :meth:`store_end`."""
        ...

    def store_end(self, handle: Any, store: str, operation: str, error: BaseException | None) -> None: ...


def instrument(stores: Stores, observer: StoreObserver) -> Stores:
    """``stores`` with every protocol method of every store observed by ``observer``."""
    wrapped: dict[str, Any] = {
        name: _ObservedStore(getattr(stores, name), name, protocol, observer)
        for name, protocol in STORE_PROTOCOLS.items()
    }
    return dataclasses.replace(stores, **wrapped)


def operations(protocol: type) -> list[str]:
    """The coroutine methods ``protocol`` declares (a protocol's stubs are ``async def``)."""
    return sorted(
        name
        for name, member in vars(protocol).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    )


class _ObservedStore:
    """One store, its protocol's methods observed; everything else is the original's."""

    def __init__(self, target: object, store: str, protocol: type, observer: StoreObserver) -> None:
        self._target = target
        for operation in operations(protocol):
            method = getattr(target, operation)
            setattr(self, operation, _observed(method, store, operation, observer))

    def __getattr__(self, name: str) -> Any:
        # Only for what the constructor did not set: a backend's own methods and attributes.
        return getattr(self._target, name)


def _observed(
    method: Callable[..., Awaitable[_T]], store: str, operation: str, observer: StoreObserver
) -> Callable[..., Awaitable[_T]]:
    begin, end = observer.store_begin, observer.store_end

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> _T:
        handle = begin(store, operation)
        try:
            result = await method(*args, **kwargs)
        except BaseException as exc:
            end(handle, store, operation, exc)
            raise
        end(handle, store, operation, None)
        return result

    return call
