"""The service's request logic, independent of routing: one :class:`Service` per process.

Endpoints (raw ASGI for the hot paths, Starlette for the rest) call into this; it composes the
protocol core (:mod:`forcegate.core`) with the stores and the registry cache.

Every request path starts with :meth:`Service.refresh`: one read of the registry generation, which
every registry write and every signing-key change bumps. When it moved, the registry cache is dropped
and the signing keys are reloaded, BEFORE any access token is verified or issued: a token signed with
a key another worker just rotated to verifies here on this worker's very next request, and a token of
a retired key is refused as soon.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from forcegate.clock import Clock, SystemClock
from forcegate.core import ids
from forcegate.core._b64 import b64url_decode
from forcegate.core.access_token import (
    AccessTokenIssuer,
    AccessTokenVerifier,
    VerifiedAccessToken,
    access_token_header,
    es256_jwk,
)
from forcegate.core.assertion import AssertionVerifier
from forcegate.core.canvas_request import CanvasRequest
from forcegate.core.grant import TokenGrant, TokenRequest, prepare_grant
from forcegate.core.identity import Identity
from forcegate.errors import (
    AuthenticationRequired,
    CanvasOrgRefused,
    ConfigurationError,
    InvalidAccessToken,
    OrgDisabled,
    RateLimited,
    TokenRevoked,
    UnknownApp,
)
from forcegate.server.audit import AuditWriter
from forcegate.server.canvas_liveness import CanvasLivenessCheck
from forcegate.server.registry_cache import RegistryCache
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.models import Session, SigningKey
from forcegate.stores.protocols import ReplayCache

__all__ = ["RATE_WINDOW", "SESSION_COOKIE", "CanvasLogin", "Service"]

SESSION_COOKIE = "forcegate_session"
#: The fixed window of ``token_rate_limit`` (seconds).
RATE_WINDOW = 60


@dataclass(frozen=True, slots=True)
class CanvasLogin:
    session_id: str
    identity: Identity
    request: CanvasRequest


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class Service:
    """Everything a request needs, built once per process from the settings and the stores."""

    def __init__(self, settings: Settings, stores: Stores, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.stores = stores
        self.clock = clock if clock is not None else SystemClock()
        self.registry = RegistryCache(stores.trust)
        self.audit = AuditWriter(stores.audit, clock=self.clock)
        self.assertions = AssertionVerifier(
            directory=self.registry,
            audiences=settings.audiences,
            leeway=settings.leeway,
            max_assertion_lifetime=settings.max_assertion_lifetime,
            clock=self.clock,
        )
        self._replay = _ClockedReplay(stores.replay, self.clock)
        self.canvas_liveness = CanvasLivenessCheck() if settings.canvas_liveness_check else None
        self.issuer: AccessTokenIssuer | None = None
        self.access: AccessTokenVerifier | None = None
        self.jwks: dict[str, object] = {"keys": []}
        self._access_prefixes: tuple[str, ...] = ()
        # The registry generation the loaded keys are at least as new as (None: not loaded yet), and
        # what they are (kid, active; newest first), to keep the verifier (and its cache) when a
        # registry change left the keys alone.
        self._keys_generation: int | None = None
        self._keys_loaded: tuple[tuple[str, bool], ...] = ()
        self._keys_lock = asyncio.Lock()

    async def load_signing_keys(self) -> None:
        """Load the service's signing keys: the newest active one signs, all of them verify."""
        # The generation first: keys read after it are at least as new as it says.
        generation = await self.stores.trust.generation()
        self._install_signing_keys(await self.stores.keys.signing_keys())
        self._keys_generation = generation

    async def refresh(self) -> None:
        """Bring the registry cache and the signing keys up to date; every request path calls this first.

        One generation read when nothing changed; the keys are reloaded only when it moved.
        """
        generation = await self.registry.refresh()
        if generation == self._keys_generation:
            return
        # Concurrent requests that see the move wait for the one reload rather than verify against
        # keys another coroutine is still loading.
        async with self._keys_lock:
            if generation != self._keys_generation:
                self._install_signing_keys(await self.stores.keys.signing_keys())
                self._keys_generation = generation

    def _install_signing_keys(self, records: Sequence[SigningKey]) -> None:
        loaded = tuple((record.kid, record.active) for record in records)
        if loaded == self._keys_loaded and self.access is not None:
            return
        if not records:
            raise ConfigurationError("no signing key in the store: run `forcegate serve` once to create one")
        public: dict[str, ec.EllipticCurvePublicKey] = {}
        signer: tuple[ec.EllipticCurvePrivateKey, str] | None = None
        for record in records:
            key = load_pem_private_key(record.private_pem, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ConfigurationError(f"signing key {record.kid} is not an EC key")
            public[record.kid] = key.public_key()
            if signer is None and record.active:
                signer = (key, record.kid)
        if signer is None:
            raise ConfigurationError("no active signing key")
        self.issuer = AccessTokenIssuer(
            private_key=signer[0],
            kid=signer[1],
            issuer=self.settings.public_url,
            audience=self.settings.public_url,
            lifetime=self.settings.token_lifetime,
            clock=self.clock,
        )
        # A new verifier, with an empty cache: a token verified earlier under a key retired since must
        # not be answered from the old verifier's cache.
        self.access = AccessTokenVerifier(
            keys=public,
            issuer=self.settings.public_url,
            audience=self.settings.public_url,
            leeway=self.settings.leeway,
            clock=self.clock,
        )
        self.jwks = {"keys": [es256_jwk(key, kid) for kid, key in public.items()]}
        # Our tokens' headers are fixed per key: a prefix test routes them without decoding anything.
        self._access_prefixes = tuple(access_token_header(kid) + "." for kid in public)
        self._keys_loaded = loaded

    # --- token endpoint -----------------------------------------------------------------------------

    async def token(self, request: TokenRequest, *, client: str | None) -> TokenGrant:
        """RFC 7523 §2.1: verify the assertion, claim it once, issue the access token, and record it
        and its audit event before it is returned."""
        await self.refresh()
        assert self.issuer is not None
        grant = await prepare_grant(request, verifier=self.assertions, issuer=self.issuer)
        identity = grant.identity
        # After the signature (a forged assertion cannot spend another org's budget), before the
        # claim (a refused assertion stays unused, for a retry in the next window).
        await self._spend_rate(identity.org_id)
        event = self.audit.event(
            endpoint="/oauth2/token",
            credential="jwt-bearer",
            org_id=identity.org_id,
            user_id=identity.user_id,
            subject=identity.username,
            issuer=identity.issuer,
            client=client,
        )
        # The single-use claim, the token's record and its audit row in one atomic write (one
        # transaction on SQL, shared with concurrent requests): a token never leaves without its rows.
        won = await self.stores.grants.record_grant(
            replay_key=grant.assertion.replay_key,
            replay_until=grant.assertion.replay_until,
            token=grant.record,
            event=event,
            now=self.clock.now(),
        )
        if not won:
            raise grant.assertion.replayed()
        return grant

    # --- bearer credentials at the API --------------------------------------------------------------

    async def verify_access_token(self, token: str) -> VerifiedAccessToken:
        """An access token this service issued, not revoked, for an org still enabled."""
        await self.refresh()
        return await self._verify_access_token(token)

    async def verify_token_signature(self, token: str) -> VerifiedAccessToken:
        """Only that ``token`` is an access token of ours (signature, expiry) under the current keys."""
        await self.refresh()
        assert self.access is not None
        return self.access.verify(token)

    async def _verify_access_token(self, token: str) -> VerifiedAccessToken:
        """:meth:`verify_access_token` once :meth:`refresh` has run."""
        assert self.access is not None
        verified = self.access.verify(token)
        if await self.stores.tokens.is_revoked(verified.jti):
            raise TokenRevoked("the access token was revoked")
        await self._check_org_enabled(verified.identity.org_id, registered_only=True)
        return verified

    async def authenticate_bearer(self, token: str) -> tuple[Identity, str]:
        """The identity behind ``Authorization: Bearer <token>`` and the credential kind.

        An access token of ours carries ``typ: at+jwt``; anything else is treated as an Apex-signed
        JWT sent directly, held to the token endpoint's rules, single use included.
        """
        await self.refresh()
        if token.startswith(self._access_prefixes) or _is_access_token(token):
            return (await self._verify_access_token(token)).identity, "access-token"
        # AssertionVerifier.verify, with the rate limit between the checks and the claim (as at the
        # token endpoint): counted only for a verified assertion, and a refused one stays unused.
        verified = await self.assertions.check(token, source="jwt")
        await self._spend_rate(verified.org.org_id)
        if not await self._replay.claim(verified.replay_key, verified.replay_until):
            raise verified.replayed()
        return verified.identity, "jwt"

    async def _spend_rate(self, org_id: str) -> None:
        """Count one single-use assertion of ``org_id`` in the current minute (the service's clock);
        :class:`RateLimited` beyond ``token_rate_limit``. A counter store that is down fails closed."""
        limit = self.settings.token_rate_limit
        if not limit:
            return
        now = self.clock.now()
        window_start = float(math.floor(now / RATE_WINDOW) * RATE_WINDOW)
        hits = await self.stores.rates.hit(f"assertions:{org_id}", window_start, RATE_WINDOW, now=now)
        if hits > limit:
            raise RateLimited(
                f"org {org_id} has used its {limit} assertions for this minute",
                retry_after=max(1, math.ceil(window_start + RATE_WINDOW - now)),
            )

    async def authenticate_session(self, session_id: str) -> Identity:
        session = await self.stores.sessions.get(session_digest(session_id), now=self.clock.now())
        if session is None:
            raise AuthenticationRequired("no live session for this cookie")
        await self.refresh()
        await self._check_org_enabled(session.identity.org_id, registered_only=False)
        return session.identity

    async def _check_org_enabled(self, org_id: str, *, registered_only: bool) -> None:
        org = await self.registry.org(org_id)
        if org is None:
            if registered_only:
                raise InvalidAccessToken(f"org {org_id} is no longer registered")
            return
        if not org.enabled:
            raise OrgDisabled(f"org {org_id} is disabled")

    # --- Canvas -------------------------------------------------------------------------------------

    async def canvas_login(self, signed_request: str, *, consumer_key: str | None) -> CanvasLogin:
        """Verify a signed request against the registered apps' secrets and open a session."""
        await self.refresh()
        trust = await self.registry.canvas(consumer_key)
        if trust.verifier is None:
            raise UnknownApp(
                "no registered app" if consumer_key is None else f"no registered app with consumer key {consumer_key!r}"
            )
        request = trust.verifier.verify(signed_request)
        app = trust.apps[request.secret_index]
        org = await self.registry.org(request.organization_id)
        if org is None and not app.any_org:
            raise CanvasOrgRefused(f"org {request.organization_id} is not registered (app {app.consumer_key})")
        if org is not None and not org.enabled:
            raise CanvasOrgRefused(f"org {request.organization_id} is disabled")
        if self.canvas_liveness is not None:
            # Last, after every local check: a request refused anyway costs no call to Salesforce.
            await self.canvas_liveness.check(request)
        environment = request.environment
        record = environment.record
        record_id = record.get("Id") if record is not None else None
        now = self.clock.now()
        identity = Identity(
            source="canvas",
            org_id=request.organization_id,
            user_id=request.user_id,
            username=request.user.user_name,
            instance_url=request.client.instance_url,
            record_id=ids.to18(record_id) if isinstance(record_id, str) and ids.is_valid(record_id) else None,
            parameters=environment.parameters,
            scopes=frozenset() if org is None else org.scopes,
            issuer=app.consumer_key,
            expires_at=now + self.settings.session_lifetime,
        )
        session_id = secrets.token_urlsafe(32)
        await self.stores.sessions.create(
            Session(
                id_hash=session_digest(session_id),
                identity=identity,
                created_at=now,
                expires_at=now + self.settings.session_lifetime,
            )
        )
        return CanvasLogin(session_id, identity, request)

    # --- admin --------------------------------------------------------------------------------------

    async def is_admin(self, token: str) -> bool:
        return await self.stores.keys.check_admin_token(token)


class _ClockedReplay:
    """The replay store, judging lapsed claims by the service's clock (the verifier's), not the wall clock."""

    __slots__ = ("_clock", "_store")

    def __init__(self, store: ReplayCache, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def claim(self, key: str, expires_at: float) -> bool:
        return await self._store.claim(key, expires_at, now=self._clock.now())


class ClaimedIdentity(NamedTuple):
    """What a refused assertion *claims* (unverified): it lets the audit log file a refusal under
    the org it names, so ``forcegate audit --org`` shows attempts against that org too."""

    issuer: str | None
    org_id: str | None
    subject: str | None


def claimed_identity(token: str) -> ClaimedIdentity:
    """Best effort, for the audit log only: never trusted, never raises."""
    try:
        claims = orjson.loads(b64url_decode(token.split(".")[1][:16384]))
    except (ValueError, IndexError, orjson.JSONDecodeError):
        return ClaimedIdentity(None, None, None)
    if not isinstance(claims, dict):
        return ClaimedIdentity(None, None, None)

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value[:255] if isinstance(value, str) else None

    issuer = text("iss")
    org = text("org_id") or issuer
    org_id = ids.to18(org) if org is not None and ids.is_valid(org) and org.startswith(ids.ORG_PREFIX) else None
    return ClaimedIdentity(issuer, org_id, text("sub"))


def _is_access_token(token: str) -> bool:
    """Peek at the (unverified) header's ``typ``: it only routes the token to the right verifier,
    each of which checks everything itself."""
    head, dot, _ = token.partition(".")
    if not dot or len(head) > 1024:
        return False
    try:
        header = orjson.loads(b64url_decode(head))
    except (ValueError, orjson.JSONDecodeError):
        return False
    return isinstance(header, dict) and header.get("typ") == "at+jwt"
