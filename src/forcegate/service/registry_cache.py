"""The trust registry as the request path sees it: cached per process, refreshed on change.

Every registry write bumps a generation counter in the same transaction. Each request calls
:meth:`RegistryCache.refresh` once (one indexed read); when the generation moved — a CLI command,
an admin API call or another worker changed something — the cache is dropped and entries reload on
first use. So a disabled org or a retired certificate takes effect on the next request, on every
worker, without a restart. A certificate a rotation replaced stops verifying at its ``retire_at``
without a registry write: the org's entry is remembered only until the earliest such time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from forcegate.clock import Clock, SystemClock
from forcegate.core.canvas import CanvasVerifier
from forcegate.core.trust import OrgTrust
from forcegate.stores.models import App, AppSecret
from forcegate.stores.protocols import TrustStore

__all__ = ["CanvasRoutes", "CanvasTrust", "RegistryCache"]

# Bounds the memory of negative and positive entries; a registry bigger than this still works,
# it only reloads more often.
MAX_ENTRIES = 200_000

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class CanvasTrust:
    """The secrets a Canvas request may be signed with, and which app each belongs to."""

    verifier: CanvasVerifier | None
    apps: tuple[App, ...]  # apps[i] owns the secret verifier index i
    secret_ids: tuple[int, ...]  # ... and secret_ids[i] is that secret's id
    secrets: tuple[str, ...] = field(default=(), repr=False)  # ... and secrets[i] its value

    @property
    def size(self) -> int:
        """How many secrets a request is checked against."""
        return len(self.secret_ids)

    def newest(self, limit: int) -> CanvasTrust:
        """At most ``limit`` secrets: each app's come newest first, so a long rotation loses its oldest."""
        if self.size <= limit:
            return self
        return _trust_of(list(zip(self.apps, self.secrets, self.secret_ids, strict=True))[:limit])


@dataclass(frozen=True, slots=True)
class CanvasRoutes:
    """Every app's Canvas secrets, and the same split by the developer name a request is routed by."""

    everything: CanvasTrust
    by_name: Mapping[str, CanvasTrust]  # the app's canvas_name, lowercase
    unnamed: CanvasTrust  # the apps without a canvas_name


def _trust_of(entries: Sequence[tuple[App, str, int]]) -> CanvasTrust:
    secrets = tuple(secret for _, secret, _ in entries)
    return CanvasTrust(
        CanvasVerifier(secrets) if secrets else None,
        tuple(app for app, _, _ in entries),
        tuple(secret_id for _, _, secret_id in entries),
        secrets,
    )


class RegistryCache:
    """Implements :class:`forcegate.core.trust.TrustDirectory` over a :class:`TrustStore`."""

    def __init__(self, trust: TrustStore, *, clock: Clock | None = None) -> None:
        self._trust = trust
        self._clock = clock if clock is not None else SystemClock()
        self._generation: int | None = None
        self._orgs: dict[str, OrgTrust | None] = {}
        # Orgs whose entry holds a certificate in its rotation overlap: when to load them again.
        self._reload_at: dict[str, float] = {}
        self._apps: dict[str, App | None] = {}
        self._canvas: dict[str, CanvasTrust] = {}
        self._routes: CanvasRoutes | None = None

    @property
    def generation(self) -> int | None:
        return self._generation

    async def refresh(self) -> int:
        """Drop every cached entry if the registry changed since the last call; return the generation."""
        generation = await self._trust.generation()
        self.apply(generation)
        return generation

    def apply(self, generation: int) -> None:
        """:meth:`refresh` with a generation read elsewhere in the same request (with a token's
        record, decision 0031): every cached entry dropped if it differs from the cache's."""
        if generation != self._generation:
            self._orgs.clear()
            self._reload_at.clear()
            self._apps.clear()
            self._canvas.clear()
            self._routes = None
            self._generation = generation

    async def org(self, org_id: str) -> OrgTrust | None:
        try:
            cached = self._orgs[org_id]
        except KeyError:
            pass
        else:
            # Rare: only orgs in a rotation overlap are in _reload_at, so the common case is one dict miss.
            if not self._reload_at or self._clock.now() < self._reload_at.get(org_id, float("inf")):
                return cached
        record = await self._trust.get_org(org_id)
        trust: OrgTrust | None = None
        self._reload_at.pop(org_id, None)
        if record is not None:
            now = self._clock.now()
            certificates = [
                c
                for c in await self._trust.list_certificates(record.org_id, include_retired=False)
                if c.trusted_at(now)
            ]
            retiring = [c.retire_at for c in certificates if c.retire_at is not None]
            if retiring:
                self._reload_at[org_id] = min(retiring)
            trust = OrgTrust(
                org_id=record.org_id,
                enabled=record.enabled,
                issuers=record.allowed_issuers,
                subjects=None if record.subjects is None else frozenset(record.subjects),
                scopes=frozenset(record.scopes),
                keys=tuple(c.trusted_key() for c in certificates),
                algorithms=frozenset(record.algorithms),
                apps=frozenset(await self._trust.org_apps(record.org_id)),
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

    async def canvas(self, consumer_key: str) -> CanvasTrust:
        """The secrets of the app ``consumer_key`` (current first): a request to ``/canvas/{consumer_key}``."""
        cached = self._canvas.get(consumer_key)
        if cached is not None:
            return cached
        app = await self.app(consumer_key)
        trust = _trust_of(await self._secrets_of([] if app is None else [app]))
        self._remember(self._canvas, consumer_key, trust)
        return trust

    async def canvas_routes(self) -> CanvasRoutes:
        """Every app's secrets, grouped by the Canvas developer name: a request to ``/canvas``."""
        if self._routes is not None:
            return self._routes
        entries = await self._secrets_of(list(await self._trust.list_apps()))
        named: dict[str, list[tuple[App, str, int]]] = {}
        for entry in entries:
            if entry[0].canvas_name is not None:
                named.setdefault(entry[0].canvas_name.lower(), []).append(entry)
        self._routes = CanvasRoutes(
            everything=_trust_of(entries),
            by_name={name: _trust_of(group) for name, group in named.items()},
            unnamed=_trust_of([entry for entry in entries if entry[0].canvas_name is None]),
        )
        return self._routes

    async def _secrets_of(self, apps: Sequence[App]) -> list[tuple[App, str, int]]:
        secrets: list[AppSecret] = []
        owners: list[App] = []
        for app in apps:
            for secret in await self._trust.app_secrets(app.consumer_key):
                secrets.append(secret)
                owners.append(app)
        return [(app, secret.secret, secret.id) for app, secret in zip(owners, secrets, strict=True)]

    @staticmethod
    def _remember(cache: dict[str, _V], key: str, value: _V) -> None:
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        cache[key] = value
