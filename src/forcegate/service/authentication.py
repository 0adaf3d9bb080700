"""The authentication service: the request logic of every entry point, independent of HTTP.

The service's endpoints, the Starlette/FastAPI dependency and (later) other framework integrations
call into one :class:`AuthenticationService` per process. It composes the protocol core
(:mod:`forcegate.core`) with the stores and the registry cache, and it audits every decision itself,
so no adapter can forget to: an adapter reads the request (:class:`Credentials`, a form), calls one
method, and renders what comes back or what is raised.

Every request path starts with :meth:`AuthenticationService.refresh`: one read of the registry
generation, which every registry write and every signing-key change bumps. When it moved, the
registry cache is dropped and the signing keys are reloaded, BEFORE any access token is verified or
issued: a token signed with a key another worker just rotated to verifies here on this worker's very
next request, and a token of a retired key is refused as soon. An API call with an access token
reads the generation with its token's lookup where the store can (decision 0031), and is decided
only once the cache and the keys are brought to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

from forcegate._security import secret_matches
from forcegate.clock import Clock, SystemClock
from forcegate.core.access_token import AccessTokenIssuer, AccessTokenVerifier, VerifiedAccessToken
from forcegate.core.assertion import AssertionVerifier, VerifiedAssertion
from forcegate.core.grant import TokenGrant, TokenRequest, prepare_grant, token_request
from forcegate.core.identity import Identity
from forcegate.core.trust import OrgTrust
from forcegate.errors import (
    AuthenticationRequired,
    ForcegateError,
    InsufficientScope,
    InvalidAccessToken,
    NoCredentials,
    OrgDisabled,
    RateLimited,
    TokenRevoked,
)
from forcegate.service.audit import AuditWriter
from forcegate.service.canvas_liveness import CanvasLivenessCheck
from forcegate.service.canvas_trust import canvas_refusal
from forcegate.service.claimed import NOTHING_CLAIMED, ClaimedIdentity, claimed_identity, looks_like_access_token
from forcegate.service.credentials import SESSION_COOKIE, Credentials
from forcegate.service.failures import FailureLimiter, counts_as_failure
from forcegate.service.registry_cache import RegistryCache
from forcegate.service.signing import SigningState, signing_state
from forcegate.settings import Settings
from forcegate.stores.bundle import Stores
from forcegate.stores.models import AuditEvent, IssuedCheck, Session
from forcegate.stores.rate_hit import RateExceeded, RateHit
from forcegate.stores.registry_moved import RegistryMoved

__all__ = [
    "RATE_WINDOW",
    "SESSION_COOKIE",
    "TOKEN_ENDPOINT",
    "AuthenticationService",
    "Form",
    "session_digest",
]

log = logging.getLogger("forcegate.service")

#: A token without a ``jti`` to look up (it fails the claims check): no record, nothing revoked.
_NO_RECORD = IssuedCheck(None, False)
_V = TypeVar("_V")
_T = TypeVar("_T")

#: The fixed window of ``token_rate_limit`` (seconds).
RATE_WINDOW = 60
TOKEN_ENDPOINT = "/oauth2/token"  # noqa: S105 - a path, not a secret

#: How the HTTP adapter reads the request's form, called inside the service: a request refused while
#: its form is read (wrong content type, too large, malformed) is audited like any other refusal, and
#: a request refused before (a wrong credential) has its body left unread.
Form = Callable[[], Awaitable[Mapping[str, str]]]


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class AuthenticationService:
    """Everything a request needs, built once per process from the settings and the stores."""

    def __init__(self, settings: Settings, stores: Stores, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.stores = stores
        self.clock = clock if clock is not None else SystemClock()
        self.registry = RegistryCache(stores.trust, clock=self.clock)
        self.audit = AuditWriter(stores.audit, clock=self.clock, unverified_limit=settings.audit_unverified_limit)
        # Shared through Redis when the deployment has it; otherwise each worker counts its own.
        shared = stores.rates if settings.redis_url is not None else None
        self.failures = FailureLimiter(settings.failure_rate_limit, clock=self.clock, shared=shared)
        self.assertions = AssertionVerifier(
            directory=self.registry,
            audiences=settings.audiences,
            leeway=settings.leeway,
            max_assertion_lifetime=settings.max_assertion_lifetime,
            clock=self.clock,
        )
        self.canvas_liveness = CanvasLivenessCheck() if settings.canvas_liveness_check else None
        self._signing: SigningState | None = None
        # The registry generation the loaded keys are at least as new as (None: not loaded yet).
        self._keys_generation: int | None = None
        self._keys_lock = asyncio.Lock()

    # --- the service's signing keys -------------------------------------------------------------------

    @property
    def issuer(self) -> AccessTokenIssuer | None:
        return None if self._signing is None else self._signing.issuer

    @property
    def access(self) -> AccessTokenVerifier | None:
        return None if self._signing is None else self._signing.verifier

    @property
    def jwks(self) -> dict[str, object]:
        return {"keys": []} if self._signing is None else self._signing.jwks

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
        await self._keys_at(await self.registry.refresh())

    async def _load_keys_once(self) -> bool:
        """The first request's :meth:`refresh` (no signing keys loaded yet); whether it ran."""
        if self._signing is not None:
            return False
        await self.refresh()
        return True

    async def _keys_at(self, generation: int) -> None:
        """The signing keys reloaded if the registry ``generation`` (just read) moved past theirs."""
        if generation == self._keys_generation:
            return
        # Concurrent requests that see the move wait for the one reload rather than verify against
        # keys another coroutine is still loading.
        async with self._keys_lock:
            if generation != self._keys_generation:
                self._install_signing_keys(await self.stores.keys.signing_keys())
                self._keys_generation = generation

    def _install_signing_keys(self, records: Any) -> None:
        if self._signing is not None and tuple((r.kid, r.active) for r in records) == self._signing.loaded:
            return  # a registry change that left the keys alone keeps the verifier and its cache
        self._signing = signing_state(records, self.settings, self.clock)

    # --- token endpoint -------------------------------------------------------------------------------

    async def exchange(self, form: Form, *, client: str | None) -> dict[str, Any]:
        """``POST /oauth2/token``: read the form, grant the token, and return the RFC 6749 §5.1 body.

        A refusal is audited (filed under the org the assertion claims) before it is raised; if the
        audit store cannot take it, its error is raised instead (the request fails closed).
        """
        request: TokenRequest | None = None
        try:
            request = token_request(await form())
            return (await self.token(request, client=client)).response
        except ForcegateError as exc:
            claimed = claimed_identity(None if request is None else request.assertion)
            refusal = self.failures.instead(exc, client, claimed.org_id)
            event = self.audit.event(
                endpoint=TOKEN_ENDPOINT,
                credential="jwt-bearer",
                error=refusal,
                client=client,
                org_id=claimed.org_id,
                issuer=claimed.issuer,
                subject=claimed.subject,
            )
            await self.write_refusal(event)
            await self.count_failure(exc, client, claimed.org_id)
            if refusal is exc:
                raise
            raise refusal from None

    async def token(self, request: TokenRequest, *, client: str | None) -> TokenGrant:
        """RFC 7523 §2.1: verify the assertion, claim it once, issue the access token, and record it
        and its audit event before it is returned."""

        async def verify() -> TokenGrant:
            assert self.issuer is not None
            return await prepare_grant(request, verifier=self.assertions, issuer=self.issuer)

        async def write(grant: TokenGrant, generation: int | None) -> TokenGrant:
            identity = grant.identity
            event = self.audit.allowed(identity, endpoint=TOKEN_ENDPOINT, credential="jwt-bearer", client=client)
            # One atomic write (one transaction on SQL, shared with concurrent requests; one statement
            # on PostgreSQL): the registry generation checked, the org's rate hit — after the
            # signature, so a forged assertion spends no one's budget — then the single-use claim
            # (not made past the limit: the assertion stays usable in the next window; a replay gives
            # the hit back), the token's record and its audit row. A token never leaves without its rows.
            won = await self._counted(
                identity.org_id,
                lambda now, rate: self.stores.grants.record_grant(
                    replay_key=grant.assertion.replay_key,
                    replay_until=grant.assertion.replay_until,
                    token=grant.record,
                    event=event,
                    now=now,
                    rate=rate,
                    generation=generation,
                ),
            )
            if not won:
                raise grant.assertion.replayed()
            self.audit.recorded(event)
            return grant

        return await self._decided(verify, write)

    async def _decided(
        self, verify: Callable[[], Awaitable[_V]], write: Callable[[_V, int | None], Awaitable[_T]]
    ) -> _T:
        """A single-use decision: ``verify`` against the registry as cached, then ``write`` it (grant or
        claim) only if the registry is still at that generation (decision 0036) — no generation read
        of its own, the write checks it.

        If the registry moved, the cache and keys are brought to the generation the write found and the
        decision is made again. A refusal may be the stale cache's (an org or certificate just added by
        another worker): it stands only if the registry has not moved since. Before any key is loaded
        (or with the keys behind the cache), the registry is read first, as every request once did.
        """
        generation = self.registry.generation
        if self._signing is not None and generation is not None and generation == self._keys_generation:
            try:
                verified = await verify()
            except ForcegateError:
                await self.refresh()
                if self.registry.generation == generation:
                    raise
            else:
                try:
                    return await write(verified, generation)
                except RegistryMoved as moved:
                    self.registry.apply(moved.generation)
                    await self._keys_at(moved.generation)
        else:
            await self.refresh()
        return await write(await verify(), None)

    # --- credentials at a protected resource ----------------------------------------------------------

    async def authorize(
        self, credentials: Credentials, *, endpoint: str, client: str | None, scopes: Collection[str] = ()
    ) -> Identity:
        """The identity behind ``credentials``, with ``scopes`` enforced, and the decision audited.

        A refusal is queued (and raised); a direct JWT, which consumed a single-use assertion, is
        written with its claim, before returning; other credentials are queued. No credential at all
        (:class:`NoCredentials`) is not audited: it is every anonymous request.
        """
        try:
            identity, credential = await self.authenticate(credentials, endpoint=endpoint, client=client, scopes=scopes)
        except NoCredentials:
            raise
        except ForcegateError as exc:
            claimed = self._claimed_by(credentials)
            refusal = self.failures.instead(exc, client, claimed.org_id)
            await self.count_failure(exc, client, claimed.org_id)
            self.audit.enqueue(
                self.audit.event(
                    endpoint=endpoint,
                    credential="bearer" if credentials.authorization is not None else "session",
                    error=refusal,
                    client=client,
                    org_id=claimed.org_id,
                    issuer=claimed.issuer,
                    subject=claimed.subject,
                )
            )
            if refusal is exc:
                raise
            raise refusal from None
        if credential != "jwt":  # a direct JWT's was written with its claim
            self.audit.enqueue(self.audit.allowed(identity, endpoint=endpoint, credential=credential, client=client))
        return identity

    @staticmethod
    def _claimed_by(credentials: Credentials) -> ClaimedIdentity:
        token = credentials.authorization.partition(" ")[2].strip() if credentials.authorization else None
        return claimed_identity(token) if token else NOTHING_CLAIMED

    async def count_failure(self, exc: ForcegateError, client: str | None, org_id: str | None) -> None:
        """Count a refused attempt of ``client`` for ``org_id`` (see :class:`FailureLimiter`)."""
        if counts_as_failure(exc):
            await self.failures.record(client, org_id)

    async def authenticate(
        self, credentials: Credentials, *, endpoint: str, client: str | None, scopes: Collection[str] = ()
    ) -> tuple[Identity, str]:
        """Identity and credential kind, ``scopes`` enforced: the bearer token when one is sent, else the
        Canvas session (see :meth:`authenticate_bearer` for ``endpoint`` and ``client``)."""
        token = credentials.bearer()
        if token is not None:
            return await self.authenticate_bearer(token, endpoint=endpoint, client=client, scopes=scopes)
        if credentials.session is not None:
            identity = await self.authenticate_session(credentials.session)
            _require_scopes(identity, scopes)
            return identity, "session"
        raise NoCredentials("no bearer token and no session cookie")

    async def authenticate_bearer(
        self, token: str, *, endpoint: str, client: str | None, scopes: Collection[str] = ()
    ) -> tuple[Identity, str]:
        """The identity behind ``Authorization: Bearer <token>`` and the credential kind.

        An access token of ours carries ``typ: at+jwt``; anything else is treated as an Apex-signed
        JWT sent directly, held to the token endpoint's rules, single use included. ``scopes`` are
        enforced on both; a JWT's before it is claimed (a refused JWT stays unused), and the "allowed" audit row of
        ``endpoint`` and ``client`` is written with its claim, in the same unit of work.
        """
        fresh = await self._load_keys_once()
        assert self._signing is not None
        # The prefixes only spare decoding the header of a token of ours: the route does not depend on
        # which keys are loaded, so an access token's generation is read with its lookup (0031).
        if token.startswith(self._signing.prefixes) or looks_like_access_token(token):
            identity = (await self._verify_access_token(token, fresh=fresh)).identity
            _require_scopes(identity, scopes)
            return identity, "access-token"
        # AssertionVerifier.verify, with the rate limit between the checks and the claim (as at the
        # token endpoint): counted only for a verified assertion, and a refused one stays unused. The
        # generation check, the hit and the claim are one unit of work (one write), as in a grant.

        async def verify() -> VerifiedAssertion:
            verified = await self.assertions.check(token, source="jwt")
            _require_scopes(verified.identity, scopes)
            return verified

        async def claim(verified: VerifiedAssertion, generation: int | None) -> tuple[Identity, str]:
            event = self.audit.allowed(verified.identity, endpoint=endpoint, credential="jwt", client=client)
            won = await self._counted(
                verified.org.org_id,
                lambda now, rate: self.stores.grants.claim(
                    replay_key=verified.replay_key,
                    replay_until=verified.replay_until,
                    now=now,
                    rate=rate,
                    generation=generation,
                    event=event,
                ),
            )
            if not won:
                raise verified.replayed()
            self.audit.recorded(event)
            return verified.identity, "jwt"

        return await self._decided(verify, claim)

    async def verify_access_token(self, token: str) -> VerifiedAccessToken:
        """An access token this service issued, not revoked, for an org still enabled."""
        return await self._verify_access_token(token, fresh=await self._load_keys_once())

    async def verify_token_signature(self, token: str) -> VerifiedAccessToken:
        """Only that ``token`` is an access token of ours (signature, expiry) under the current keys."""
        await self.refresh()
        assert self.access is not None
        return self.access.verify(token)

    async def _verify_access_token(self, token: str, *, fresh: bool = False) -> VerifiedAccessToken:
        """:meth:`verify_access_token` once the signing keys are loaded (``fresh``: :meth:`refresh`
        has run for this request).

        One lookup of the token's ``jti`` answers the revocation and, for a token not verified
        before, the record MAC it is checked against (decision 0025: no public-key cryptography for
        a token of ours); it also reads the registry generation (decision 0031), which is the
        request's generation check (a token without a ``jti`` has no lookup: the generation is read
        on its own). Either way the keys and the registry cache are brought to it before anything is
        decided, and if the keys moved the token is checked again under the new ones: a token of a
        key another worker just rotated to verifies on the very next request, one of a retired key
        is refused as soon.
        """
        access = self.access
        assert access is not None
        verified = access.cached(token)
        opened = None
        if verified is not None:
            jti: str | None = verified.jti
        else:
            try:
                opened = access.open(token)
            except InvalidAccessToken:
                if fresh:
                    raise
                # Perhaps a key this worker has not loaded yet: decide under the current ones.
                await self.refresh()
                return await self._verify_access_token(token, fresh=True)
            jti = opened.jti
        record = await self.stores.tokens.check_issued(jti) if jti is not None else _NO_RECORD
        if not fresh:
            if record.generation is None:
                await self.refresh()
            else:
                self.registry.apply(record.generation)
                await self._keys_at(record.generation)
            if self.access is not access:
                return await self._verify_access_token(token, fresh=True)
        if opened is not None:
            verified = access.check(opened, record.mac)
        assert verified is not None
        if record.revoked:
            raise TokenRevoked("the access token was revoked")
        await self._check_org_enabled(verified.identity.org_id, registered_only=True)
        return verified

    async def authenticate_session(self, session_id: str) -> Identity:
        """The identity of a live Canvas session whose trust still holds.

        A session lasts while everything that let it open still does: its app is registered and still
        trusts its org (:func:`canvas_refusal`: bound, or any-org; the org enabled), and the consumer
        secret that signed its request is still active. When any of that ended (the org or the app was
        removed or unbound, the secret retired), the session is deleted and refused.
        """
        digest = session_digest(session_id)
        session = await self.stores.sessions.get(digest, now=self.clock.now())
        if session is None:
            raise AuthenticationRequired("no live session for this cookie")
        await self.refresh()
        identity = session.identity
        org = await self.registry.org(identity.org_id)
        if org is not None and not org.enabled:
            raise OrgDisabled(f"org {identity.org_id} is disabled")  # re-enabling the org brings it back
        ended = await self._session_trust_ended(session, org)
        if ended is not None:
            await self.stores.sessions.delete(digest)
            raise AuthenticationRequired(f"the session ended: {ended}")
        return identity

    async def _session_trust_ended(self, session: Session, org: OrgTrust | None) -> str | None:
        app_key = session.identity.issuer
        trust = await self.registry.canvas(app_key)
        if trust.verifier is None or not trust.apps:
            return f"app {app_key} is no longer registered"
        if session.app_secret_id is not None and session.app_secret_id not in trust.secret_ids:
            return f"the consumer secret of app {app_key} that opened it was retired"
        return canvas_refusal(trust.apps[0], org, session.identity.org_id)

    async def _counted(self, org_id: str, claim: Callable[[float, RateHit | None], Awaitable[bool]]) -> bool:
        """Run ``claim(now, rate)``: a single-use claim that counts one hit of ``org_id``'s rate limit in
        its own unit of work (``GrantRecorder``); past the limit, :class:`RateLimited`."""
        now = self.clock.now()
        rate = self._rate_hit(org_id, now)
        try:
            return await claim(now, rate)
        except RateExceeded:
            assert rate is not None
            raise self._rate_limited(org_id, rate, now) from None

    def _rate_hit(self, org_id: str, now: float) -> RateHit | None:
        """The hit one single-use assertion of ``org_id`` counts at ``now`` (None: no limit set)."""
        limit = self.settings.token_rate_limit
        if not limit:
            return None
        window_start = float(math.floor(now / RATE_WINDOW) * RATE_WINDOW)
        return RateHit(f"assertions:{org_id}", window_start, RATE_WINDOW, limit)

    @staticmethod
    def _rate_limited(org_id: str, rate: RateHit, now: float) -> RateLimited:
        return RateLimited(
            f"org {org_id} has used its {rate.limit} assertions for this minute",
            retry_after=max(1, math.ceil(rate.window_end - now)),
        )

    async def _check_org_enabled(self, org_id: str, *, registered_only: bool) -> None:
        org = await self.registry.org(org_id)
        if org is None:
            if registered_only:
                raise InvalidAccessToken(f"org {org_id} is no longer registered")
            return
        if not org.enabled:
            raise OrgDisabled(f"org {org_id} is disabled")

    # --- the admin credential -------------------------------------------------------------------------

    async def require_admin(
        self, credentials: Credentials, *, endpoint: str, client: str | None, or_token: str | None = None
    ) -> None:
        """The caller must present the admin token as bearer (or ``or_token``, a narrower credential an
        endpoint also takes: ``introspection_token``); a refusal is audited."""
        try:
            self.failures.check(client, None)
            token = credentials.bearer()
            if token is None:
                raise NoCredentials("admin token missing")
            if or_token is not None and secret_matches(token, or_token):
                return
            if not await self.stores.keys.check_admin_token(token):
                raise AuthenticationRequired("admin token does not match")
        except ForcegateError as exc:
            self.audit.enqueue(self.audit.event(endpoint=endpoint, credential="admin", error=exc, client=client))
            await self.count_failure(exc, client, None)
            raise

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Whether every store answers and the signing keys are loaded; each store's check (``ok`` or why not)."""
        try:
            checks = dict(await self.stores.check())
        except ForcegateError as exc:
            # A backend that cannot even run its check is not ready: say so in the same shape.
            checks = {"stores": exc.reason}
        except Exception as exc:
            checks = {"stores": type(exc).__name__}
        return all(value == "ok" for value in checks.values()) and self.issuer is not None, checks

    async def is_admin(self, token: str) -> bool:
        return await self.stores.keys.check_admin_token(token)

    async def write_refusal(self, event: AuditEvent) -> None:
        """Write a refusal before it is answered; an audit store that cannot take it fails the request
        (its error is raised in place of the refusal)."""
        try:
            await self.audit.write(event)
        except ForcegateError as audit_exc:
            log.error("audit store refused a %s event: %s", event.endpoint, audit_exc)
            raise audit_exc from None


def _require_scopes(identity: Identity, scopes: Collection[str]) -> None:
    if not identity.has_scopes(scopes):
        raise InsufficientScope(f"missing scope(s): {' '.join(sorted(set(scopes) - identity.scopes))}")
