"""The trust registry as the request path sees it: cached per process, refreshed on change.

Every registry write bumps a generation counter in the same transaction. Each request calls
:meth:`RegistryCache.refresh` once (one indexed read); when the generation moved — a CLI command,
an admin API call or another worker changed something — the cache is dropped and entries reload on
first use. So a disabled org or a retired certificate takes effect on the next request, on every
worker, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from forcegate.core.canvas import CanvasVerifier
from forcegate.core.trust import OrgTrust
from forcegate.stores.models import App
from forcegate.stores.protocols import TrustStore

__all__ = ["CanvasTrust", "RegistryCache"]

# Bounds the memory of negative and positive entries; a registry bigger than this still works,
# it only reloads more often.
MAX_ENTRIES = 200_000

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class CanvasTrust:
    """The secrets a Canvas request may be signed with, and which app each belongs to."""

    verifier: CanvasVerifier | None
    apps: tuple[App, ...]  # apps[i] owns the secret verifier index i


class RegistryCache:
    """Implements :class:`forcegate.core.trust.TrustDirectory` over a :class:`TrustStore`."""

    def __init__(self, trust: TrustStore) -> None:
        self._trust = trust
        self._generation: int | None = None
        self._orgs: dict[str, OrgTrust | None] = {}
        self._apps: dict[str, App | None] = {}
        self._canvas: dict[str | None, CanvasTrust] = {}

    @property
    def generation(self) -> int | None:
        return self._generation

    async def refresh(self) -> int:
        """Drop every cached entry if the registry changed since the last call; return the generation."""
        generation = await self._trust.generation()
        if generation != self._generation:
            self._orgs.clear()
            self._apps.clear()
            self._canvas.clear()
            self._generation = generation
        return generation

    async def org(self, org_id: str) -> OrgTrust | None:
        try:
            return self._orgs[org_id]
        except KeyError:
            pass
        record = await self._trust.get_org(org_id)
        trust: OrgTrust | None = None
        if record is not None:
            certificates = await self._trust.list_certificates(record.org_id, include_retired=False)
            trust = OrgTrust(
                org_id=record.org_id,
                enabled=record.enabled,
                issuers=record.allowed_issuers,
                subjects=None if record.subjects is None else frozenset(record.subjects),
                scopes=frozenset(record.scopes),
                keys=tuple(c.trusted_key() for c in certificates if c.state == "active"),
                algorithms=frozenset(record.algorithms),
                max_assertion_lifetime=record.policy.max_assertion_lifetime,
                token_lifetime=record.policy.token_lifetime,
            )
        self._remember(self._orgs, org_id, trust)
        return trust

    async def app(self, consumer_key: str) -> App | None:
        try:
            return self._apps[consumer_key]
        except KeyError:
            pass
        app = await self._trust.get_app(consumer_key)
        self._remember(self._apps, consumer_key, app)
        return app

    async def is_consumer_key(self, issuer: str) -> bool:
        return await self.app(issuer) is not None

    async def canvas(self, consumer_key: str | None) -> CanvasTrust:
        """Secrets of one app (``consumer_key``) or of every registered app (``None``), current first."""
        cached = self._canvas.get(consumer_key)
        if cached is not None:
            return cached
        if consumer_key is None:
            apps = list(await self._trust.list_apps())
        else:
            app = await self.app(consumer_key)
            apps = [] if app is None else [app]
        secrets: list[str] = []
        owners: list[App] = []
        for app in apps:
            for secret in await self._trust.app_secrets(app.consumer_key):
                secrets.append(secret.secret)
                owners.append(app)
        trust = CanvasTrust(CanvasVerifier(secrets) if secrets else None, tuple(owners))
        self._canvas[consumer_key] = trust
        return trust

    @staticmethod
    def _remember(cache: dict[str, _V], key: str, value: _V) -> None:
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        cache[key] = value
