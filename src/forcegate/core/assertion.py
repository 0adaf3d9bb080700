"""Verifying an Apex-signed assertion against the trust registry.

One verifier serves both JWT paths: the token endpoint (RFC 7523 §3, ``source="jwt-bearer"``) and
an Apex JWT sent directly as the bearer credential (``source="jwt"``). The order is fixed (after
fosite's RFC 7523 handler; docs/architecture.md), each step raising its own error:

1. size, then parse (:meth:`JWSVerifier.parse`, :func:`loads_claims`), once;
2. header ``alg`` in the verifier's allow-list (part of parsing; asymmetric algorithms only), and
   no ``typ`` of another kind of token (an access token: RFC 8725 §3.11);
3. issuer resolution: ``iss`` a registered org id -> that org; else ``iss`` a registered consumer
   key -> the org named by the ``org_id`` claim (required); else, with an ``org_id`` claim, the org
   it names *if that org lists this ``iss`` among its issuers* (an External Credential's one static
   issuer, decision 0020); else :class:`UnknownIssuer`. ``iss`` must be one of the org's issuers
   (:class:`IssuerNotAllowed`);
4. the org is enabled (:class:`OrgDisabled`), and ``alg`` is one the org allows
   (:class:`UnsupportedAlgorithm`; RS256 unless the org is set otherwise);
5. key selection among the org's certificates (valid at this moment, give or take the leeway),
   then the signature;
6. ``aud``, ``exp``/``nbf``/``iat`` with leeway, lifetime cap (the org's, else the default);
7. ``sub`` required, and in the org's subject list when it has one (:class:`SubjectNotAllowed`);
8. the claim profile (:mod:`forcegate.core.claim_profile`); an ``org_id`` claim must name the org;
9. scope: the requested scopes must be a subset of the org's (:class:`InvalidScope`);
10. single use, LAST, as one atomic claim — a token that fails any check above never burns its key.

Before the signature only ``iss`` (and, for an issuer that is not an org id, ``org_id``) is read
from the unverified claims: they are needed to find the keys. Every other claim is judged after the
signature, so a forged token reports ``invalid_signature`` (decision 0005).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, NamedTuple, Protocol

from forcegate.clock import Clock, SystemClock
from forcegate.core import ids
from forcegate.core.algorithms import ASSERTION_ALGORITHMS
from forcegate.core.claim_profile import is_scope, read_org_id, read_profile, split_scope
from forcegate.core.identity import Identity
from forcegate.core.jws import JWSVerifier, loads_claims
from forcegate.core.jwt import JWTPolicy, JWTVerifier, VerifiedJWT
from forcegate.core.trust import OrgTrust, TrustDirectory
from forcegate.errors import (
    AssertionReplayed,
    ConfigurationError,
    ForcegateError,
    InvalidClaim,
    InvalidSalesforceId,
    InvalidScope,
    IssuerNotAllowed,
    MissingClaim,
    OrgDisabled,
    SubjectNotAllowed,
    UnexpectedTokenType,
    UnknownIssuer,
    UnsupportedAlgorithm,
)

__all__ = ["MAX_SUBJECT_LENGTH", "AssertionSource", "AssertionVerifier", "ReplayClaimer", "VerifiedAssertion"]

AssertionSource = Literal["jwt-bearer", "jwt"]

MAX_SUBJECT_LENGTH = 255
"""Longest accepted ``sub``: a Salesforce username has at most 80 characters. The bound keeps the
access token minted from the assertion (which repeats ``sub`` as ``username``) within its size limit."""

# Distinct per-org (lifetime, algorithms) pairs are few; the bound only stops a pathological registry.
_MAX_VERIFIERS = 64
_DEFAULT_ALGORITHMS = frozenset({"RS256"})
#: ``typ`` values of tokens that must never be taken for an assertion (RFC 9068 §2.1 access tokens).
_OTHER_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


class ReplayClaimer(Protocol):
    """The one store operation single use needs (``forcegate.stores.ReplayCache`` fits)."""

    async def claim(self, key: str, expires_at: float) -> bool:
        """Atomically claim ``key`` until ``expires_at``; False when it was already claimed."""
        ...


class VerifiedAssertion(NamedTuple):
    """An assertion that passed every check (and, from :meth:`AssertionVerifier.verify`, whose
    single use has been claimed)."""

    jwt: VerifiedJWT
    org: OrgTrust
    identity: Identity
    #: The single-use key (``jti``, else a digest of the assertion) and until when to hold it:
    #: past that moment the assertion fails the expiry check anyway.
    replay_key: str
    replay_until: float

    def replayed(self) -> AssertionReplayed:
        """The error for a lost single-use claim."""
        return AssertionReplayed(
            f"assertion from {_show(self.identity.issuer)} for org {self.org.org_id} was already used"
        )


def _show(value: str) -> str:
    # Issuers come from unverified input and end up in logs: bound what is echoed.
    return repr(value if len(value) <= 64 else value[:64] + "…")


def _org_id_or_none(iss: str) -> str | None:
    if len(iss) not in (15, 18) or not iss.startswith(("00D", "00d")):
        return None
    try:
        return ids.validate(iss, prefix=ids.ORG_PREFIX)
    except InvalidSalesforceId:
        return None


def _org_id_claim_or_none(claims: dict[str, object]) -> str | None:
    # A malformed org_id under an unlisted issuer is still an unknown issuer, not a claim error.
    try:
        return read_org_id(claims)
    except InvalidClaim:
        return None


class AssertionVerifier:
    """Verifies Apex-signed assertions for any registered org.

    Build once per service: the parser and one :class:`JWTVerifier` per distinct (lifetime cap,
    algorithms) are kept and reused; an org's keys are passed per call, so a registry change needs no
    invalidation here. ``audiences``: accepted ``aud`` values (exact match). ``max_assertion_lifetime``:
    the default cap, overridden by :attr:`OrgTrust.max_assertion_lifetime`. ``algorithms``: the most
    any org may be allowed (default: every asymmetric algorithm); each org narrows it to its own
    :attr:`OrgTrust.algorithms`, checked before its keys are tried.
    """

    __slots__ = (
        "_algorithms",
        "_audiences",
        "_clock",
        "_directory",
        "_leeway",
        "_max_assertion_lifetime",
        "_parser",
        "_verifiers",
    )

    def __init__(
        self,
        *,
        directory: TrustDirectory,
        audiences: Collection[str],
        leeway: int = 60,
        max_assertion_lifetime: int = 300,
        algorithms: Collection[str] = ASSERTION_ALGORITHMS,
        clock: Clock | None = None,
    ) -> None:
        self._directory = directory
        self._clock = clock if clock is not None else SystemClock()
        self._audiences = frozenset(audiences)
        self._algorithms = frozenset(algorithms)
        if not self._algorithms <= ASSERTION_ALGORITHMS:
            raise ConfigurationError(
                f"assertion algorithms must be asymmetric: {sorted(self._algorithms - ASSERTION_ALGORITHMS)} are not"
            )
        self._leeway = leeway
        self._max_assertion_lifetime = max_assertion_lifetime
        self._parser = JWSVerifier(algorithms=self._algorithms)
        self._verifiers: dict[tuple[int, frozenset[str]], JWTVerifier] = {}
        # Built now so a bad configuration fails at startup, not on the first request.
        self._verifier(max_assertion_lifetime, _DEFAULT_ALGORITHMS & self._algorithms or self._algorithms)

    def _verifier(self, max_lifetime: int, algorithms: frozenset[str]) -> JWTVerifier:
        key = (max_lifetime, algorithms)
        verifier = self._verifiers.get(key)
        if verifier is None:
            policy = JWTPolicy(
                audiences=self._audiences,
                algorithms=algorithms,
                leeway=self._leeway,
                max_lifetime=max_lifetime,
            )
            if len(self._verifiers) >= _MAX_VERIFIERS:
                self._verifiers.clear()
            verifier = self._verifiers[key] = JWTVerifier(policy=policy, keys=(), clock=self._clock)
        return verifier

    async def _resolve_org(self, iss: str, claims: dict[str, object]) -> tuple[OrgTrust, str]:
        """Step 3: the org this ``iss`` speaks for, and the issuer as the identity records it."""
        directory = self._directory
        org_id = _org_id_or_none(iss)
        org = await directory.org(org_id) if org_id is not None else None
        if org is not None and org_id is not None:
            # A 15-character or case-folded org id in iss names the same org as the canonical one.
            if org_id not in org.issuers and iss not in org.issuers:
                raise IssuerNotAllowed(f"org {org.org_id} does not accept its org id as issuer")
            return org, org_id
        if await directory.is_consumer_key(iss):
            named = read_org_id(claims)  # validated here: it decides which keys are tried
            if named is None:
                raise MissingClaim(f"claim 'org_id' is required when iss is a consumer key ({_show(iss)})")
            org = await directory.org(named)
            if org is None:
                raise UnknownIssuer(f"org {named} named by claim 'org_id' is not registered")
            if iss not in org.issuers:
                raise IssuerNotAllowed(f"org {named} does not accept consumer key {_show(iss)} as issuer")
            return org, iss
        # An issuer the registry lists for one org only (`forcegate orgs update --issuer`): a Named
        # Credential's External Credential sends one static `iss` from every subscriber org and names
        # the org in `org_id`. The unverified `org_id` only picks whose keys are tried; the listing is
        # the operator's, so an issuer no org lists stays unknown, as it was.
        named = _org_id_claim_or_none(claims)
        if named is not None:
            org = await directory.org(named)
            if org is not None and iss in org.issuers:
                return org, iss
        raise UnknownIssuer(
            f"issuer {_show(iss)} is not a registered org id, a registered consumer key, "
            "or an issuer listed by the org its org_id claim names"
        )

    async def verify(
        self,
        token: str | bytes,
        *,
        replay: ReplayClaimer,
        requested_scope: str | None = None,
        source: AssertionSource,
    ) -> VerifiedAssertion:
        """Run every check of the module docstring in order, then claim the assertion's single use.

        ``requested_scope`` is the token request's ``scope`` parameter (RFC 6749 §3.3); when absent
        or empty the ``scope`` claim is the request, and when that is absent too, every scope of
        the org is granted. Raises a :class:`~forcegate.errors.TokenError` (``invalid_grant``) or
        :class:`~forcegate.errors.InvalidScope`; store errors propagate.
        """
        verified = await self.check(token, requested_scope=requested_scope, source=source)
        # Last, after every check: one atomic insert-if-absent.
        if not await replay.claim(verified.replay_key, verified.replay_until):
            raise verified.replayed()
        return verified

    async def check(
        self, token: str | bytes, *, requested_scope: str | None = None, source: AssertionSource
    ) -> VerifiedAssertion:
        """Every check of :meth:`verify` but the single-use claim, which the caller then MUST make
        atomically — with what it records of the grant, as the service does in one transaction —
        on ``replay_key`` until ``replay_until`` before acting on the assertion."""
        jws = self._parser.parse(token)
        typ = jws.header.get("typ")
        if isinstance(typ, str) and typ.lower() in _OTHER_TOKEN_TYPES:
            # RFC 8725 §3.11: an access token (ours, or any RFC 9068 one) is never an assertion.
            raise UnexpectedTokenType(f"a token of type {typ!r} is not an assertion")
        claims = loads_claims(jws.payload)
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise MissingClaim("claim 'iss' is missing or not a non-empty string")
        org, issuer = await self._resolve_org(iss, claims)
        if not org.enabled:
            raise OrgDisabled(f"org {org.org_id} is disabled")
        if jws.algorithm not in org.algorithms:
            raise UnsupportedAlgorithm(
                f"algorithm {jws.algorithm!r} is not allowed for org {org.org_id} (allowed: {sorted(org.algorithms)})"
            )

        limit = org.max_assertion_lifetime
        # The parser admitted only this verifier's algorithms: the org's are narrowed to those.
        verifier = self._verifier(
            self._max_assertion_lifetime if limit is None else limit, frozenset(org.algorithms) & self._algorithms
        )
        text = token if isinstance(token, str) else token.decode("ascii")  # parse() proved it ASCII
        verified = verifier.verify_parsed(text, jws, claims, keys=org.keys)

        try:
            sub = claims["sub"]  # present: JWTPolicy requires it
            if not isinstance(sub, str):
                raise InvalidClaim(f"claim 'sub' must be a string, not {type(sub).__name__}")
            if len(sub) > MAX_SUBJECT_LENGTH:
                raise InvalidClaim(f"claim 'sub' is longer than {MAX_SUBJECT_LENGTH} characters")
            if org.subjects is not None and sub not in org.subjects:
                raise SubjectNotAllowed(f"subject {_show(sub)} is not allowed for org {org.org_id}")

            profile = read_profile(claims)
            if profile.org_id is not None and profile.org_id != org.org_id:
                raise InvalidClaim(f"claim 'org_id' names {profile.org_id}, but the assertion is for org {org.org_id}")
            # A Salesforce username is an email address, never an id: a `sub` that is a valid user id
            # is the user id (External Credentials can send one) and the identity has no username.
            user_id = profile.user_id
            username: str | None = sub
            if len(sub) in (15, 18) and sub.startswith(ids.USER_PREFIX) and ids.is_valid(sub):
                username = None
                if user_id is None:
                    user_id = ids.to18(sub)
                elif user_id != ids.to18(sub):
                    raise InvalidClaim(f"claim 'user_id' {user_id} is not the user {ids.to18(sub)} named by 'sub'")

            if requested_scope:  # RFC 6749 §3.1: a parameter sent without a value is an omitted one
                if not is_scope(requested_scope):
                    raise InvalidScope("the scope parameter is not space-separated scope tokens (RFC 6749 §3.3)")
                requested: frozenset[str] | None = split_scope(requested_scope)
            else:
                requested = profile.scopes
            if requested is None:
                scopes = org.scopes
            else:
                refused = requested - org.scopes
                if refused:
                    raise InvalidScope(f"scopes {sorted(refused)} are not granted to org {org.org_id}")
                scopes = requested
        except ForcegateError as exc:
            exc.verified = True  # after the signature: the org really sent this assertion
            raise

        identity = Identity(
            source=source,
            org_id=org.org_id,
            user_id=user_id,
            username=username,
            instance_url=profile.instance_url,
            record_id=profile.record_id,
            parameters=profile.params,
            scopes=scopes,
            issuer=issuer,
            expires_at=verified.expires_at,
        )
        return VerifiedAssertion(verified, org, identity, verified.replay_key(), verified.expires_at + self._leeway)
