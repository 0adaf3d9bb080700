"""What an endpoint needs, found in the request's scope: the services of this process and the settings.

:class:`~forcegate.server.app.ForcegateApp` builds one :class:`Runtime` at start and puts it in every
request's scope under ``"forcegate"`` (mounted in another application too), so endpoints are plain
module-level functions rather than closures over a service.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forcegate.errors import StoreUnavailable
from forcegate.registry.service import RegistryService
from forcegate.server._asgi import Scope
from forcegate.service.authentication import AuthenticationService
from forcegate.settings import Settings

if TYPE_CHECKING:  # the metrics module imports prometheus-client, which only a serving process needs loaded
    from forcegate.server.metrics import ServiceMetrics

__all__ = ["SCOPE_KEY", "Runtime", "runtime"]

SCOPE_KEY = "forcegate"


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    service: AuthenticationService
    registry: RegistryService
    openapi: dict[str, Any]
    #: ``settings.trusted_proxies``, parsed once (the client address is read on every request).
    proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: The Prometheus metrics, when ``settings.metrics`` is on.
    metrics: ServiceMetrics | None = None


def runtime(scope: Scope) -> Runtime:
    """The runtime of the application serving this request."""
    found = scope.get(SCOPE_KEY)
    if not isinstance(found, Runtime):
        # Only when a server skipped the lifespan protocol: refuse rather than guess.
        raise StoreUnavailable("forcegate has not started (the ASGI lifespan did not run)")
    return found
