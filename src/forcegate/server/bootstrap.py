"""First start of a data folder: schema, the service's signing key, the admin token.

``forcegate serve`` runs this once in the parent process before any worker starts, so workers never
race to create keys. The admin token is generated only when none exists, and returned so the CLI
can print it once: only its digest is stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from forcegate.clock import Clock, SystemClock
from forcegate.core.access_token import new_signing_key
from forcegate.settings import Settings
from forcegate.stores.bundle import open_stores
from forcegate.stores.models import SigningKey

__all__ = ["BootstrapResult", "bootstrap"]


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    admin_token: str | None = field(repr=False)
    signing_key_created: str | None  # the new key's kid


async def bootstrap(settings: Settings, *, clock: Clock | None = None) -> BootstrapResult:
    now = (clock or SystemClock()).now()
    stores = await open_stores(settings, migrate="upgrade" if settings.migrate else "create")
    try:
        created_kid: str | None = None
        if not await stores.keys.signing_keys():
            private_key, kid = new_signing_key()
            pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            await stores.keys.add_signing_key(SigningKey(kid=kid, algorithm="ES256", private_pem=pem, created_at=now))
            created_kid = kid
        admin_token: str | None = None
        if not await stores.keys.has_admin_token():
            admin_token = secrets.token_urlsafe(32)
            await stores.keys.set_admin_token(admin_token)
        return BootstrapResult(admin_token, created_kid)
    finally:
        await stores.close()
