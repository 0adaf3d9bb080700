"""JWT verification with a strict, declarative policy — the checks an Apex-signed JWT must pass.

Order (after fosite's RFC 7523 handler; docs/architecture.md), each step raising its own error:

1. size limit, then parse (three strict base64url segments, JSON header and claims);
2. header ``alg`` in the policy's allow-list, no ``crit``;
3. ``iss`` present, allowed by the policy, and known to the key resolver (:class:`UnknownIssuer`);
4. key selection by ``x5t#S256`` / ``kid`` among that issuer's trusted keys, bound to the
   algorithm's key type, skipping expired certificates;
5. signature;
6. ``aud`` — one string, or an array containing one — exactly equal to a configured audience;
7. ``exp`` required, ``now < exp + leeway``; ``nbf`` when present, ``nbf <= now + leeway``;
8. ``iat`` when present, not in the future beyond leeway;
9. lifetime: ``exp - now <= max_lifetime + leeway`` always, and ``exp - iat <= max_lifetime`` when
   ``iat`` exists — an Apex JWT lives minutes, so a long-lived one is a stolen or forged one;
10. other required claims (``sub`` by default).

Replay is not checked here (it needs a store): :meth:`VerifiedJWT.replay_key` names what a replay
cache must claim atomically, *after* every check above passed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from forcegate.clock import Clock, SystemClock
from forcegate.core.jws import (
    DEFAULT_MAX_KEYS,
    DEFAULT_MAX_TOKEN_BYTES,
    CompactJWS,
    JWSVerifier,
    VerifiedJWS,
    loads_claims,
)
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    ConfigurationError,
    ForcegateError,
    InvalidAudience,
    InvalidClaim,
    LifetimeTooLong,
    MissingClaim,
    TokenExpired,
    TokenIssuedInFuture,
    TokenNotYetValid,
    UnknownIssuer,
    UnsupportedAlgorithm,
)

__all__ = ["JWTPolicy", "JWTVerifier", "KeyResolver", "VerifiedJWT", "verify_jwt"]

#: Given a token's ``iss``, the keys trusted for it (empty when the issuer is unknown).
KeyResolver = Callable[[str], Sequence[TrustedKey]]

MAX_LEEWAY = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class JWTPolicy:
    """What a JWT must satisfy. Build once; every field is validated at construction.

    ``issuers`` ``None`` means any issuer for which the key resolver has keys.
    """

    audiences: frozenset[str]
    issuers: frozenset[str] | None = None
    algorithms: frozenset[str] = frozenset({"RS256"})
    leeway: int = 60
    max_lifetime: int = 300
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES
    max_keys_per_token: int = DEFAULT_MAX_KEYS
    required_claims: frozenset[str] = frozenset({"sub"})
    accept_expired_certificates: bool = False

    def __post_init__(self) -> None:
        # Accept any iterable of strings from callers, store frozensets (a str is not a set of audiences).
        for name in ("audiences", "issuers", "algorithms", "required_claims"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str):
                raise ConfigurationError(f"{name} must be a collection of strings, not one string")
            object.__setattr__(self, name, frozenset(value))
        if not self.audiences or not all(isinstance(a, str) and a for a in self.audiences):
            raise ConfigurationError("at least one non-empty audience is required")
        if self.issuers is not None and not self.issuers:
            raise ConfigurationError("issuers is empty: no token could ever be accepted")
        if not 0 <= self.leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        if self.max_lifetime <= 0:
            raise ConfigurationError("max_lifetime must be positive")


class VerifiedJWT(NamedTuple):
    """A JWT that passed every check: its claims, header, algorithm and the key that verified it.

    Immutable; a named tuple rather than a frozen dataclass because one is built per request and
    that costs a quarter as much.
    """

    claims: Mapping[str, Any]
    header: Mapping[str, Any]
    algorithm: str
    key: TrustedKey
    token: str

    def __repr__(self) -> str:  # the token is a credential: keep it out of logs
        return f"VerifiedJWT(claims={dict(self.claims)!r}, algorithm={self.algorithm!r}, key={self.key!r})"

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def expires_at(self) -> float:
        return float(self.claims["exp"])

    def replay_key(self) -> str:
        """The single-use key: ``jti:<iss>:<jti>`` when the token has a ``jti``, else a digest.

        Apex may not emit ``jti``; then the SHA-256 of the whole compact token stands for it (a
        re-signed token is a new token, which is what single use has to prevent anyway).
        """
        jti = self.claims.get("jti")
        if isinstance(jti, str) and jti:
            return f"jti:{self.issuer}:{jti}"
        return "sha256:" + hashlib.sha256(self.token.encode("ascii")).hexdigest()


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    # RFC 7519 §2 NumericDate: a JSON number. Exact type checks: bool is an int subclass in Python.
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return float(value)
    if value is None and name not in claims:
        return None
    raise InvalidClaim(f"claim {name!r} is not a NumericDate")


class JWTVerifier:
    """Verifies JWTs under one :class:`JWTPolicy` with keys from a static list or a resolver.

    Construct once and reuse: the allow-list, audiences and a cache of validated headers are
    prepared here so each :meth:`verify` does only per-token work.
    """

    __slots__ = ("_audiences", "_clock", "_jws", "_policy", "_resolve")

    def __init__(
        self,
        *,
        policy: JWTPolicy,
        keys: Sequence[TrustedKey] | KeyResolver,
        clock: Clock | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock if clock is not None else SystemClock()
        self._audiences = policy.audiences
        self._jws = JWSVerifier(
            algorithms=policy.algorithms, max_bytes=policy.max_token_bytes, max_keys=policy.max_keys_per_token
        )
        if callable(keys):
            self._resolve: KeyResolver = keys
        else:
            static = tuple(keys)
            self._resolve = lambda _issuer: static

    @property
    def policy(self) -> JWTPolicy:
        return self._policy

    def verify(self, token: str | bytes) -> VerifiedJWT:
        """Run every check of the module docstring, in order; raise the first that fails."""
        jws = self._jws.parse(token)
        claims = loads_claims(jws.payload)
        text = token.decode("ascii") if isinstance(token, bytes) else token
        return self.verify_parsed(text, jws, claims)

    def verify_parsed(
        self,
        token: str,
        jws: CompactJWS,
        claims: dict[str, Any],
        *,
        keys: Sequence[TrustedKey] | None = None,
    ) -> VerifiedJWT:
        """Steps 3 to 10 for a token the caller has already parsed (step 1) and read the claims of.

        For callers that must look at the unverified claims to find the keys (the org registry
        answers by ``iss`` and ``org_id``) without parsing the token twice. ``jws`` comes from
        :meth:`JWSVerifier.parse`, ``claims`` from :func:`loads_claims` of its payload, ``token`` is
        the compact text (the replay key may digest it). ``keys``, when given, are the only keys
        tried and the resolver is not asked; an empty sequence then fails with
        :class:`~forcegate.errors.KeyNotFound` at key selection.
        """
        policy = self._policy
        if jws.algorithm not in policy.algorithms:
            # The caller's parser may have had a wider allow-list than this policy: never trust it.
            raise UnsupportedAlgorithm(
                f"algorithm {jws.algorithm!r} is not in the allow-list {sorted(policy.algorithms)}"
            )
        now = self._clock.now()

        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise MissingClaim("claim 'iss' is missing or not a non-empty string")
        if policy.issuers is not None and iss not in policy.issuers:
            raise UnknownIssuer(f"issuer {iss!r} is not allowed")
        if keys is None:
            keys = self._resolve(iss)
            if not keys:
                raise UnknownIssuer(f"no trusted keys for issuer {iss!r}")

        verified = self._verify_signature(jws, keys, now)

        try:
            self._check_audience(claims.get("aud"))
            self._check_times(claims, now)
            for name in policy.required_claims:
                if claims.get(name) in (None, ""):
                    raise MissingClaim(f"claim {name!r} is required")
            jti = claims.get("jti")
            if jti is not None and (type(jti) is not str or not jti):
                # RFC 7519 §4.1.7: a string. Anything else would fall back to the token's digest as
                # its single-use key, so two assertions with jti 12345 would both be accepted.
                raise InvalidClaim("claim 'jti' is not a non-empty string")
        except ForcegateError as exc:
            exc.verified = True  # the signature held: the issuer really sent this token
            raise
        return VerifiedJWT(MappingProxyType(claims), verified.header, verified.algorithm, verified.key, token)

    def _verify_signature(self, jws: CompactJWS, keys: Sequence[TrustedKey], now: float) -> VerifiedJWS:
        policy = self._policy
        if policy.accept_expired_certificates:
            # Only expiry is waived: a certificate still never verifies before its notBefore.
            keys = [key for key in keys if key.not_before is None or key.not_before <= now + policy.leeway]
            return self._jws.verify_signature(jws, keys)
        return self._jws.verify_signature(jws, keys, now=now, leeway=policy.leeway)

    def _check_audience(self, aud: object) -> None:
        if isinstance(aud, str):
            if aud in self._audiences:
                return
            raise InvalidAudience(f"audience {aud!r} is not accepted")
        if isinstance(aud, list) and aud:
            if not all(isinstance(a, str) for a in aud):
                raise InvalidClaim("claim 'aud' array holds a non-string")
            if any(a in self._audiences for a in aud):
                return
            raise InvalidAudience(f"none of the audiences {aud!r} is accepted")
        if aud is None:
            raise MissingClaim("claim 'aud' is required")
        raise InvalidClaim("claim 'aud' is neither a string nor a non-empty array of strings")

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        leeway = self._policy.leeway
        max_lifetime = self._policy.max_lifetime
        exp = _numeric_date(claims, "exp")
        if exp is None:
            raise MissingClaim("claim 'exp' is required")
        if now >= exp + leeway:
            raise TokenExpired(f"token expired {int(now - exp)} s ago (leeway {leeway} s)")
        nbf = _numeric_date(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise TokenNotYetValid(f"token not valid for another {int(nbf - now)} s (leeway {leeway} s)")
        iat = _numeric_date(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise TokenIssuedInFuture(f"token issued {int(iat - now)} s in the future (leeway {leeway} s)")
        if exp - now > max_lifetime + leeway:
            raise LifetimeTooLong(f"token expires in {int(exp - now)} s; at most {max_lifetime} s is accepted")
        if iat is not None and exp - iat > max_lifetime:
            raise LifetimeTooLong(f"token lifetime exp - iat = {int(exp - iat)} s exceeds {max_lifetime} s")


def verify_jwt(
    token: str | bytes,
    *,
    keys: Sequence[TrustedKey] | KeyResolver,
    audiences: Collection[str],
    issuers: Collection[str] | None = None,
    algorithms: Collection[str] = ("RS256",),
    leeway: int = 60,
    max_lifetime: int = 300,
    clock: Clock | None = None,
) -> VerifiedJWT:
    """One-shot convenience over :class:`JWTVerifier`; build a verifier to verify many tokens."""
    policy = JWTPolicy(
        audiences=frozenset(audiences),
        issuers=None if issuers is None else frozenset(issuers),
        algorithms=frozenset(algorithms),
        leeway=leeway,
        max_lifetime=max_lifetime,
    )
    return JWTVerifier(policy=policy, keys=keys, clock=clock).verify(token)
