"""First start of a data folder: schema, the service's signing key, the admin token.

``forcegate serve`` runs this once in the parent process before any worker starts, so workers never
race to create keys. The admin token is generated only when none exists, and returned so the CLI
can print it once: only its digest is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from forcegate.clock import Clock
from forcegate.registry.service import RegistryService
from forcegate.settings import Settings
from forcegate.stores.opening import open_stores

__all__ = ["BootstrapResult", "bootstrap"]


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    admin_token: str | None = field(repr=False)
    signing_key_created: str | None  # the new key's kid


async def bootstrap(settings: Settings, *, clock: Clock | None = None) -> BootstrapResult:
    stores = await open_stores(settings, migrate="upgrade" if settings.migrate else "create")
    try:
        registry = RegistryService(stores, settings=settings, clock=clock)
        created_kid = await registry.ensure_signing_key()
        return BootstrapResult(await registry.ensure_admin_token(), created_kid)
    finally:
        await stores.close()
