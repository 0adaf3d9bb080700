"""Verify forcegate access tokens in another service, with the forcegate service's published JWKS.

The checks are :class:`forcegate.core.AccessTokenVerifier`'s (RFC 9068; decision 0007): size and
strict parse, ``alg`` pinned to ES256, ``typ`` ``at+jwt``, ``kid`` among the JWKS's keys, the
signature, ``iss`` and ``aud`` exactly, ``exp`` (with leeway), ``iat`` not in the future, the identity
claims; then, when configured, the service's introspection endpoint (RFC 7662) for revocation; then
the scopes. Verified tokens are cached by the core verifier until they expire, so a repeated call
costs a dictionary lookup.

The key set is fetched at the first call, kept ``keys_max_age`` seconds, then fetched again. A token
naming a ``kid`` the set does not have (the service rotated its key) fetches it again at once. Every
fetch is bounded: at most one attempt per ``refetch_interval`` whatever the reason (tokens with made-up
``kid`` values cannot make the verifier hammer the service), ``timeout`` seconds, ``max_response_bytes``
bytes, :data:`~forcegate.resource._keyset.MAX_KEYS` keys. When a refetch fails, the keys already
known keep serving until they are twice ``keys_max_age`` old; then every call is refused with 503
until the service answers again (a key the service retired must not verify for ever).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from forcegate._extras import require_extra
from forcegate._security import ForcegateSecurityWarning
from forcegate.clock import Clock, SystemClock
from forcegate.core.access_token import (
    ACCESS_TOKEN_TYPES,
    MAX_ACCESS_TOKEN_BYTES,
    AccessTokenVerifier,
    VerifiedAccessToken,
)
from forcegate.core.claim_profile import is_loopback_host
from forcegate.core.identity import Identity
from forcegate.core.jws import JWSVerifier
from forcegate.errors import (
    ConfigurationError,
    ForcegateError,
    InsufficientScope,
    InvalidAccessToken,
    NoCredentials,
    StoreUnavailable,
    TokenError,
    TokenRevoked,
)
from forcegate.resource._introspection import Introspection
from forcegate.resource._keyset import parse_jwks, same_keys
from forcegate.resource._loop import LoopThread, Steps, adrive, drive
from forcegate.resource._refusal import refusal
from forcegate.resource._verifier import DEFAULT_ENDPOINT
from forcegate.service.credentials import Credentials

if TYPE_CHECKING:
    import httpx

__all__ = ["JWKSVerifier"]

log = logging.getLogger("forcegate.resource")


@dataclass(frozen=True, slots=True)
class _KeySet:
    verifier: AccessTokenVerifier
    keys: dict[str, ec.EllipticCurvePublicKey]
    fetched_at: float


class _Net:
    """What lives on the verifier's loop: the HTTP client, and the one key fetch in flight."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.fetching: asyncio.Task[None] | None = None


def _checked_url(url: str, what: str, *, dangerously_allow_http: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"{what} {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        if not dangerously_allow_http:
            raise ConfigurationError(
                f"{what} {url!r} is plain http on a non-loopback host: anyone on the path could swap the keys; "
                "use https (dangerously_allow_http=True exists for closed test networks only)"
            )
        warnings.warn(
            f"{what} {url} is fetched over plain http (dangerously_allow_http): its answer can be forged in transit",
            ForcegateSecurityWarning,
            stacklevel=3,
        )
    return url


class JWKSVerifier:
    """Verifies the forcegate service's access tokens with its JWKS, for a resource server elsewhere.

    ``issuer``: the service's public URL (``FORCEGATE_PUBLIC_URL``), which is the tokens' ``iss``.
    ``audience``: the ``aud`` to require; the service issues tokens for its own public URL, the default.
    ``jwks_url``: default ``{issuer}/.well-known/jwks.json``. It must be https, except on a loopback
    host, or with ``dangerously_allow_http`` (which warns with
    :class:`~forcegate.ForcegateSecurityWarning`).

    ``introspection_token``: when given, every token is also checked at the service's introspection
    endpoint (``introspection_url``, default ``{issuer}/oauth2/introspect``) with this bearer
    credential — today the service's admin token, the only credential its introspection takes — so a
    revoked token, or one of an org since disabled or removed, is refused within
    ``introspection_cache`` seconds. Without it, a token is valid until its ``exp`` (the service's
    ``token_lifetime``, 10 minutes by default).

    ``leeway``: seconds of clock skew allowed on ``exp``/``iat``. ``development``: refusals tell the
    caller which check failed (``error_description``, ``code``), as the service does in development.
    The module docstring describes the key cache and its bounds; :mod:`forcegate.resource._loop` the
    thread the fetches run on.
    """

    def __init__(
        self,
        issuer: str,
        *,
        audience: str | None = None,
        jwks_url: str | None = None,
        introspection_token: str | None = None,
        introspection_url: str | None = None,
        introspection_cache: float = 10.0,
        leeway: int = 60,
        keys_max_age: float = 300.0,
        refetch_interval: float = 10.0,
        timeout: float = 5.0,
        max_response_bytes: int = 64 * 1024,
        cache_size: int = 10_000,
        development: bool = False,
        dangerously_allow_http: bool = False,
        clock: Clock | None = None,
    ) -> None:
        require_extra("forcegate.resource.JWKSVerifier", "resource", "httpx")
        issuer = issuer.rstrip("/")
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigurationError(f"issuer {issuer!r} is not the service's public URL (http(s), no query)")
        self._jwks_url = _checked_url(
            jwks_url or issuer + "/.well-known/jwks.json", "jwks_url", dangerously_allow_http=dangerously_allow_http
        )
        if introspection_url is not None and introspection_token is None:
            raise ConfigurationError("introspection_url needs introspection_token (the credential it takes)")
        self._introspection = (
            None
            if introspection_token is None
            else Introspection(
                _checked_url(
                    introspection_url or issuer + "/oauth2/introspect",
                    "introspection_url",
                    dangerously_allow_http=dangerously_allow_http,
                ),
                introspection_token,
                cache=introspection_cache,
                leeway=leeway,
                clock=clock if clock is not None else SystemClock(),
            )
        )
        for name, value in (("keys_max_age", keys_max_age), ("refetch_interval", refetch_interval)):
            if not 0 < value <= 86_400:
                raise ConfigurationError(f"{name} must be between 0 and 86400 seconds")
        if not 0 < timeout <= 120 or not 0 <= introspection_cache <= 3600 or max_response_bytes < 1024:
            raise ConfigurationError(
                "timeout must be 0-120 s, introspection_cache 0-3600 s, max_response_bytes at least 1024"
            )
        self.issuer = issuer
        self.audience = audience if audience is not None else issuer
        self._leeway = leeway
        self._max_age = keys_max_age
        self._refetch_interval = refetch_interval
        self._max_bytes = max_response_bytes
        self._cache_size = cache_size
        self._development = development
        self._clock = clock if clock is not None else SystemClock()
        # Checks the arguments AccessTokenVerifier checks, before the first fetch would.
        AccessTokenVerifier(keys={}, issuer=issuer, audience=self.audience, leeway=leeway, cache_size=cache_size)
        self._parser = JWSVerifier(algorithms=("ES256",), max_bytes=MAX_ACCESS_TOKEN_BYTES)
        # Read by every thread, replaced whole by the loop: no lock on the verification path.
        self._keyset: _KeySet | None = None
        self._attempts = 0
        self._attempted_at = -math.inf
        self._in_flight = False
        # The whole fetch, plus the hop to the loop and back.
        self._loop: LoopThread[_Net] = LoopThread(
            "forcegate-jwks", functools.partial(_open_net, timeout), _close_net, timeout=timeout + 5
        )
        self._net_timeout = timeout

    def __repr__(self) -> str:
        return f"JWKSVerifier(issuer={self.issuer!r}, jwks_url={self._jwks_url!r})"

    # --- the public API -------------------------------------------------------------------------------

    def verify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        """The identity an access token carries, with ``scopes`` granted; else :class:`Refusal`.

        ``authorization``: the ``Authorization`` header's value. ``session`` is accepted for the
        :class:`Verifier` protocol and never used (Canvas sessions live in the registry: see
        :class:`RegistryVerifier`). ``client`` and ``endpoint`` name the request in the log line of a refusal.
        """
        steps = self._steps(authorization, session, scopes)
        try:
            return drive(self._loop, steps)
        except ForcegateError as exc:
            raise self._refused(exc, client, endpoint) from exc

    async def averify(
        self,
        authorization: str | None,
        *,
        session: str | None = None,
        scopes: Collection[str] = (),
        client: str | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> Identity:
        """:meth:`verify` for async code: the fetches run on the verifier's loop, this one stays free."""
        steps = self._steps(authorization, session, scopes)
        try:
            return await adrive(self._loop, steps)
        except ForcegateError as exc:
            raise self._refused(exc, client, endpoint) from exc

    def close(self) -> None:
        """Close the HTTP client and stop the verifier's thread."""
        self._loop.close()

    async def aclose(self) -> None:
        """:meth:`close`, awaited."""
        await asyncio.to_thread(self._loop.close)

    # --- the verification, as steps around its I/O ------------------------------------------------------

    def _steps(self, authorization: str | None, session: str | None, scopes: Collection[str]) -> Steps[_Net, Identity]:
        """The checks in order; each ``yield`` hands I/O to the driver (sync or async), which sends back
        its result or throws its error in. The common case — keys known, token cached — yields nothing."""
        self._loop.check_open()
        token = Credentials(authorization, session).bearer()
        if token is None:
            raise NoCredentials("no bearer token" + (" (a session cookie is not a credential here)" if session else ""))
        now = self._clock.now()
        keyset = yield from self._usable_keys(now)
        refused: InvalidAccessToken | None = None
        try:
            verified = keyset.verifier.verify(token)
        except InvalidAccessToken as exc:
            kid = self._unknown_kid(token, keyset)
            if kid is None or not self._may_fetch(now):
                raise
            refused = exc
        if refused is not None:
            # A kid we do not know: the service may have rotated its key since the last fetch.
            yield functools.partial(self._refresh, seen=self._attempts)
            refreshed = self._keyset
            if refreshed is None or kid not in refreshed.keys:
                raise refused
            verified = refreshed.verifier.verify(token)
        if self._introspection is not None:
            active = self._introspection.remembered(verified.jti, now)
            if active is None:
                active = yield functools.partial(self._introspect, token=token, verified=verified)
            if not active:
                raise TokenRevoked("the service's introspection says the token is not active")
        identity = verified.identity
        if not identity.has_scopes(scopes):
            raise InsufficientScope(f"missing scope(s): {' '.join(sorted(set(scopes) - identity.scopes))}")
        return identity

    def _usable_keys(self, now: float) -> Steps[_Net, _KeySet]:
        keyset = self._keyset
        # No keys yet: always ask the loop, which fetches, waits for the fetch in flight, or (a fetch
        # failed less than refetch_interval ago) does nothing. Old keys: refetch when one is allowed.
        if keyset is None or (now - keyset.fetched_at >= self._max_age and self._may_fetch(now)):
            try:
                yield functools.partial(self._refresh, seen=self._attempts)
            except StoreUnavailable as exc:
                if keyset is None or now - keyset.fetched_at >= 2 * self._max_age:
                    raise
                log.warning("JWKS refetch failed, the keys fetched %.0f s ago serve: %s", now - keyset.fetched_at, exc)
            keyset = self._keyset
        if keyset is None:
            raise StoreUnavailable(f"the JWKS at {self._jwks_url} could not be fetched yet")
        if now - keyset.fetched_at >= 2 * self._max_age:
            raise StoreUnavailable(
                f"the JWKS at {self._jwks_url} could not be refetched for {now - keyset.fetched_at:.0f} s"
            )
        return keyset

    def _may_fetch(self, now: float) -> bool:
        """Whether a fetch is running (to wait for) or one may start (none for ``refetch_interval``)."""
        return self._in_flight or now - self._attempted_at >= self._refetch_interval

    def _unknown_kid(self, token: str, keyset: _KeySet) -> str | None:
        """The ``kid`` of an ES256 ``at+jwt`` token when it is not in ``keyset``, else None."""
        try:
            header = self._parser.parse(token).header
        except TokenError:
            return None
        kid = header.get("kid")
        if header.get("typ") not in ACCESS_TOKEN_TYPES or not isinstance(kid, str) or kid in keyset.keys:
            return None
        return kid

    def _refused(self, exc: ForcegateError, client: str | None, endpoint: str) -> Exception:
        log.info("refused %s at %s (client %s): %s", exc.code, endpoint, client, exc.reason)
        return refusal(exc, development=self._development)

    # --- on the loop ----------------------------------------------------------------------------------

    async def _refresh(self, net: _Net, *, seen: int) -> None:
        """Fetch the key set: at most one fetch at a time, at most one attempt per ``refetch_interval``.

        ``seen``: the attempt count the caller decided on; if an attempt was made since, its outcome
        is already in ``self._keyset`` (or it failed), and the caller looks again without a new one.
        """
        if net.fetching is not None and not net.fetching.done():
            await asyncio.wait([net.fetching])  # someone else's fetch: its outcome shows in self._keyset
            return
        now = self._clock.now()
        if self._attempts != seen or now - self._attempted_at < self._refetch_interval:
            return
        self._attempts += 1
        self._attempted_at = now
        self._in_flight = True
        net.fetching = asyncio.get_running_loop().create_task(self._fetch(net))
        net.fetching.add_done_callback(self._fetched)
        await asyncio.shield(net.fetching)

    def _fetched(self, task: asyncio.Task[None]) -> None:
        self._in_flight = False
        if not task.cancelled():
            task.exception()  # read even if the caller that started it gave up waiting (its deadline)

    async def _fetch(self, net: _Net) -> None:
        from forcegate.resource._http import read_json

        document = await read_json(
            net.client, self._jwks_url, what="the JWKS", max_bytes=self._max_bytes, timeout=self._net_timeout
        )
        keys = parse_jwks(document, url=self._jwks_url)
        old = self._keyset
        if old is not None and same_keys(old.keys, keys):
            verifier = old.verifier  # nothing changed: keep the verified-token cache
        else:
            verifier = AccessTokenVerifier(
                keys=keys,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self._leeway,
                clock=self._clock,
                cache_size=self._cache_size,
            )
            log.info("JWKS from %s: keys %s", self._jwks_url, ", ".join(sorted(keys)))
        self._keyset = _KeySet(verifier, keys, self._clock.now())

    async def _introspect(self, net: _Net, *, token: str, verified: VerifiedAccessToken) -> bool:
        assert self._introspection is not None
        return await self._introspection.ask(
            net.client, token, verified, max_bytes=self._max_bytes, timeout=self._net_timeout
        )


async def _open_net(timeout: float) -> _Net:
    from forcegate.resource._http import new_client

    return _Net(new_client(timeout))


async def _close_net(net: _Net) -> None:
    await net.client.aclose()
