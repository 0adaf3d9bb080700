"""Access tokens the service issues: JWTs of the RFC 9068 profile, signed with ES256.

Header ``{"alg":"ES256","typ":"at+jwt","kid":…}`` (RFC 9068 §2.1). Claims (§2.2): ``iss`` and
``aud`` (the service's public URL), ``sub`` (the user id, or the org id when there is no user),
``client_id`` (the assertion's ``iss``), ``iat``, ``exp``, ``jti`` (time-ordered: :func:`new_jti`), ``scope``
(§2.2.3, left out when empty), and the identity: ``org_id``, ``user_id``, ``username``,
``instance_url``, ``record_id``, ``params``, ``src`` (absent values left out).

Every API call verifies one of these, so :class:`AccessTokenVerifier` keeps a bounded cache of
tokens it has already verified, keyed by the full token and expiring with it: a repeated call
costs a dictionary lookup instead of an ECDSA verify (decision 0007). Revocation is not checked
here: the service looks the ``jti`` up in its token store after :meth:`AccessTokenVerifier.verify`.

The record the service keeps of a token it issued carries the token's **record MAC**: HMAC-SHA256
over the whole token, keyed by a key derived from the signing key (:func:`record_mac_key`). The
service, which reads that record on every uncached call anyway (revocation), checks a token of its
own by comparing MACs instead of with public-key cryptography (decision 0025): the very token issued,
nothing else, for about a microsecond.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, get_args

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from forcegate.clock import Clock, SystemClock
from forcegate.core._b64 import b64url_encode
from forcegate.core._bounded import remember
from forcegate.core.algorithms import get_algorithm
from forcegate.core.identity import Identity, Source
from forcegate.core.jws import CompactJWS, JWSVerifier
from forcegate.errors import ClaimsTooLarge, ConfigurationError, InvalidAccessToken, TokenError

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "MAX_ACCESS_TOKEN_BYTES",
    "AccessTokenIssuer",
    "AccessTokenVerifier",
    "IssuedAccessToken",
    "OpenedAccessToken",
    "VerifiedAccessToken",
    "access_token_header",
    "es256_jwk",
    "es256_thumbprint",
    "new_signing_key",
    "record_mac_key",
]

MAX_ACCESS_TOKEN_BYTES = 16 * 1024
"""Largest access token issued or accepted (it travels in an HTTP header on every call)."""

#: RFC 9068 §4: ``typ`` must be ``at+jwt`` or ``application/at+jwt`` (RFC 7515 §4.1.9 lets the
#: ``application/`` prefix be omitted), anything else is refused: an ID token or an Apex assertion
#: is not an access token even when signed by a trusted key.
ACCESS_TOKEN_TYPES: frozenset[str] = frozenset({"at+jwt", "application/at+jwt"})

_ES256 = get_algorithm("ES256")
_SHA256 = ec.ECDSA(hashes.SHA256())
# RFC 6979: the same key and input always give the same signature, so the service can check a token
# it issued by signing its input again (decision 0019) — about 33 µs against a 75 µs verify.
_SHA256_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def _es256(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    """The JWS signature (R || S, 32 octets each; RFC 7518 §3.4), deterministic (RFC 6979)."""
    r, s = decode_dss_signature(key.sign(signing_input, _SHA256_DETERMINISTIC))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_SOURCES: frozenset[Source] = frozenset(get_args(Source))

_RECORD_MAC_INFO = b"forcegate access-token record MAC v1 "


def record_mac_key(private_key: ec.EllipticCurvePrivateKey, kid: str) -> bytes:
    """The key of the record MACs of tokens signed with ``private_key`` (HKDF-SHA256, RFC 5869).

    Derived from the signing key, so every process that can sign can check, the key rotates with the
    ``kid``, and whoever can write the database but does not hold the signing key cannot make a
    record that passes for a token never issued.
    """
    scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_RECORD_MAC_INFO + kid.encode()).derive(scalar)


def _record_mac_base(key: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed once: each MAC copies it (half the cost of keying and looking the hash up anew)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def _record_mac(base: hmac.HMAC, token: str) -> str:
    mac = base.copy()
    mac.update(token.encode("ascii"))
    return b64url_encode(mac.digest())


class IssuedAccessToken(NamedTuple):
    """What the service records about a token it issued (never the token itself).

    ``mac``: the token's record MAC (base64url HMAC-SHA256 under :func:`record_mac_key`); None in
    records written before version 11 of the schema.
    """

    jti: str
    org_id: str
    user_id: str | None
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    mac: str | None = None


class OpenedAccessToken(NamedTuple):
    """An access token parsed but not yet checked (:meth:`AccessTokenVerifier.open`); ``claims``: its
    payload as a JSON object (None when it is not one), read but not trusted."""

    token: str
    jws: CompactJWS
    kid: str
    claims: dict[str, Any] | None

    @property
    def jti(self) -> str | None:
        """The unverified ``jti``, only to find the service's record of the token (None when there is
        no string ``jti``: such a token fails the checks)."""
        jti = None if self.claims is None else self.claims.get("jti")
        return jti if isinstance(jti, str) else None


class VerifiedAccessToken(NamedTuple):
    """An access token that passed every check (revocation aside: that is the caller's store)."""

    identity: Identity
    jti: str
    expires_at: float
    client_id: str


def new_jti() -> str:
    """A token id: the issue time in milliseconds as 12 hex digits, then 128 random bits (base64url).

    The random part makes it unique (one per token: the record MAC relies on it); the time prefix makes
    consecutive ids sort together, so recording a token appends to the end of the ``jti`` index
    instead of dirtying a random page of it (one B-tree page per grant fewer: decision 0028).
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_urlsafe(16)}"


def _coordinate(value: int) -> str:
    return b64url_encode(value.to_bytes(32, "big"))


def _check_p256(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey, what: str) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise ConfigurationError(f"{what} must be an EC key on P-256 (ES256, RFC 7518 §3.4)")


def es256_thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members ``crv kty x y``, in that order."""
    _check_p256(public_key, "the key")
    numbers = public_key.public_numbers()
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{_coordinate(numbers.x)}","y":"{_coordinate(numbers.y)}"}}'
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def es256_jwk(public_key: ec.EllipticCurvePublicKey, kid: str) -> dict[str, str]:
    """The public JWK (RFC 7517 §4, RFC 7518 §6.2.1) the JWKS endpoint publishes for ``kid``."""
    _check_p256(public_key, "the key")
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _coordinate(numbers.x),
        "y": _coordinate(numbers.y),
        "use": "sig",
        "alg": "ES256",
        "kid": kid,
    }


def new_signing_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A fresh P-256 signing key and its ``kid`` (the RFC 7638 thumbprint of its public half)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    return private_key, es256_thumbprint(private_key.public_key())


def _json_default(value: object) -> object:
    # Identity parameters are read-only views (MappingProxyType, Canvas's frozen JSON types), which
    # orjson does not know; they serialise as the JSON they came from.
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _optional(claims: dict[str, Any], name: str, value: object) -> None:
    if value is not None:
        claims[name] = value


def access_token_header(kid: str) -> str:
    """The encoded protected header of every access token signed with key ``kid``."""
    return b64url_encode(orjson.dumps({"alg": "ES256", "typ": "at+jwt", "kid": kid}))


class AccessTokenIssuer:
    """Signs RFC 9068 access tokens for verified identities with one ES256 key.

    ``issuer`` and ``audience`` are the service's public URL (the same service issues and accepts
    them). ``lifetime``: default seconds until ``exp``; :meth:`issue` may shorten or lengthen it per
    org.
    """

    __slots__ = ("_audience", "_clock", "_header", "_issuer", "_key", "_lifetime", "_mac_key")

    def __init__(
        self,
        *,
        private_key: ec.EllipticCurvePrivateKey,
        kid: str,
        issuer: str,
        audience: str,
        lifetime: int = 600,
        clock: Clock | None = None,
    ) -> None:
        _check_p256(private_key, "the access-token signing key")
        if not kid or not issuer or not audience:
            raise ConfigurationError("kid, issuer and audience must be non-empty")
        if lifetime <= 0:
            raise ConfigurationError("the access-token lifetime must be positive")
        self._key = private_key
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime
        self._clock = clock if clock is not None else SystemClock()
        # The header never changes: encode it once.
        self._header = access_token_header(kid)
        self._mac_key = _record_mac_base(record_mac_key(private_key, kid))

    def issue(
        self, identity: Identity, *, client_id: str, lifetime: int | None = None
    ) -> tuple[str, IssuedAccessToken]:
        """A signed access token for ``identity`` and the record the service keeps of it.

        Raises :class:`~forcegate.errors.ClaimsTooLarge` when the token would exceed
        :data:`MAX_ACCESS_TOKEN_BYTES` (the claim profile's bounds keep assertion-derived ones under).
        """
        seconds = self._lifetime if lifetime is None else lifetime
        if seconds <= 0:
            raise ConfigurationError("the access-token lifetime must be positive")
        now = math.floor(self._clock.now())
        jti = new_jti()
        scope = " ".join(sorted(identity.scopes))
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": identity.user_id or identity.org_id,
            "client_id": client_id,
            "iat": now,
            "exp": now + seconds,
            "jti": jti,
        }
        if scope:
            claims["scope"] = scope
        claims["org_id"] = identity.org_id
        _optional(claims, "user_id", identity.user_id)
        _optional(claims, "username", identity.username)
        _optional(claims, "instance_url", identity.instance_url)
        _optional(claims, "record_id", identity.record_id)
        if identity.parameters:
            claims["params"] = identity.parameters
        claims["src"] = identity.source
        signing_input = f"{self._header}.{b64url_encode(orjson.dumps(claims, default=_json_default))}".encode("ascii")
        if len(signing_input) + 87 > MAX_ACCESS_TOKEN_BYTES:  # 87 = "." + 86 base64url of r || s
            raise ClaimsTooLarge(f"the access token would exceed {MAX_ACCESS_TOKEN_BYTES} bytes")
        token = signing_input.decode("ascii") + "." + b64url_encode(_es256(self._key, signing_input))
        record = IssuedAccessToken(
            jti=jti,
            org_id=identity.org_id,
            user_id=identity.user_id,
            client_id=client_id,
            scope=scope,
            issued_at=float(now),
            expires_at=float(now + seconds),
            mac=_record_mac(self._mac_key, token),
        )
        return token, record


def _show(value: object) -> str:
    # Claims of a token that failed a check end up in logs: bound what is echoed.
    return repr(value)[:80]


def _required(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidAccessToken(f"claim {name!r} is missing or not a non-empty string")
    return value


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAccessToken(f"claim {name!r} is not a string")
    return value


def _int_date(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if type(value) is not int:  # we issue whole seconds; bool is an int subclass, so `type`
        raise InvalidAccessToken(f"claim {name!r} is missing or not an integer NumericDate")
    return value


class AccessTokenVerifier:
    """Verifies access tokens this service issued; build once, reuse for every request.

    ``keys``: ``kid`` -> P-256 public key, every key whose tokens may still be live (the current
    signing key and recently retired ones). Checks, in order: size and strict parse, ``alg``
    ES256 only, ``typ`` (RFC 9068 §4), ``kid`` known, signature, ``iss`` and ``aud`` exactly,
    ``exp`` with leeway, ``iat`` not in the future, the identity claims. Every failure is
    :class:`~forcegate.errors.InvalidAccessToken` (RFC 6750 §3.1 ``invalid_token``) with the reason.

    ``signing_keys``: ``kid`` -> private key, for the keys this process signs with (the service): a
    token is then checked against the record MAC the service kept of it (:meth:`check`, decision
    0025), or by signing again and comparing (decision 0019). A resource server gives none.

    ``cache_size``: how many verified tokens are remembered (0 disables the cache). When full, the
    oldest entry goes first: with short-lived tokens the oldest are the nearest to expiry.
    """

    __slots__ = (
        "_audience",
        "_cache",
        "_cache_size",
        "_clock",
        "_issuer",
        "_keys",
        "_leeway",
        "_mac_keys",
        "_parser",
        "_signing_keys",
    )

    def __init__(
        self,
        *,
        keys: Mapping[str, ec.EllipticCurvePublicKey],
        issuer: str,
        audience: str,
        leeway: int = 60,
        clock: Clock | None = None,
        cache_size: int = 10_000,
        signing_keys: Mapping[str, ec.EllipticCurvePrivateKey] | None = None,
    ) -> None:
        for kid, key in keys.items():
            _check_p256(key, f"access-token key {kid!r}")
        for kid, private in (signing_keys or {}).items():
            if kid not in keys or private.public_key().public_numbers() != keys[kid].public_numbers():
                raise ConfigurationError(f"signing key {kid!r} is not the private half of access-token key {kid!r}")
        if not 0 <= leeway <= 300 or cache_size < 0:
            raise ConfigurationError("leeway must be between 0 and 300 seconds and cache_size not negative")
        self._keys = dict(keys)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock if clock is not None else SystemClock()
        self._cache_size = cache_size
        self._cache: OrderedDict[str, VerifiedAccessToken] = OrderedDict()
        self._parser = JWSVerifier(algorithms=("ES256",), max_bytes=MAX_ACCESS_TOKEN_BYTES)
        self._signing_keys = dict(signing_keys or {})
        self._mac_keys = {
            kid: _record_mac_base(record_mac_key(private, kid)) for kid, private in self._signing_keys.items()
        }

    def verify(self, token: str) -> VerifiedAccessToken:
        """Verify ``token`` (or find it already verified and still unexpired); see the class docstring."""
        hit = self.cached(token)
        return hit if hit is not None else self.check(self.open(token), None)

    def cached(self, token: str) -> VerifiedAccessToken | None:
        """``token`` as verified before, if it still is in the cache and unexpired; else None."""
        hit = self._cache.get(token)
        if hit is None:
            return None
        if self._clock.now() < hit.expires_at + self._leeway:
            return hit
        # Expired: the full check reports why. pop, not del: a thread-pool caller may have removed it already.
        self._cache.pop(token, None)
        return None

    def open(self, token: str) -> OpenedAccessToken:
        """Parse ``token`` and check its header (size, strict parse, ``alg``, ``typ``, ``kid``); the
        claims are read but not trusted: their ``jti`` only names the record to look up."""
        try:
            jws = self._parser.parse(token)
        except TokenError as exc:  # one error type at the API edge, the parser's reason kept
            raise InvalidAccessToken(f"{exc.code}: {exc.reason}") from None
        header = jws.header
        if header.get("typ") not in ACCESS_TOKEN_TYPES:
            raise InvalidAccessToken(f"header 'typ' is {_show(header.get('typ'))}, not 'at+jwt' (RFC 9068 §4)")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise InvalidAccessToken(f"header 'kid' {_show(kid)} names no access-token key of this service")
        try:
            # A token this service signed itself: no duplicate members to look for (orjson alone).
            claims = orjson.loads(jws.payload)
        except orjson.JSONDecodeError:
            claims = None  # reported after the signature check, as for any token
        return OpenedAccessToken(token, jws, kid, claims if isinstance(claims, dict) else None)

    def check(self, opened: OpenedAccessToken, record_mac: str | None) -> VerifiedAccessToken:
        """Check an :meth:`open` ed token's signature and claims, and remember it verified.

        ``record_mac``: the MAC the service recorded for the token with this ``jti`` (None: no record,
        or one without a MAC). Where this process holds the signing key, a token with a recorded MAC
        is the issued one exactly when the MACs match, and no other token can be: ``jti`` holds 128
        random bits, one per token issued. Otherwise the token is checked by signing its input again
        (RFC 6979: one signature per key and input) and comparing — the very signature issued, and
        cheaper than a verify — and a token signed otherwise (before deterministic signing, or
        forged) is left to the verify.
        """
        jws, kid = opened.jws, opened.kid
        mac_key = self._mac_keys.get(kid)
        if mac_key is not None and record_mac is not None:
            if not hmac.compare_digest(_record_mac(mac_key, opened.token), record_mac):
                raise InvalidAccessToken("ES256 signature does not verify")
        else:
            private = self._signing_keys.get(kid)
            if (private is None or not hmac.compare_digest(_es256(private, jws.signing_input), jws.signature)) and (
                not _ES256.verify(self._keys[kid], jws.signing_input, jws.signature)
            ):
                raise InvalidAccessToken("ES256 signature does not verify")
        try:
            verified = self._read_claims(opened.claims, jws, self._clock.now())
        except InvalidAccessToken as exc:
            exc.verified = True  # our own signature held: the token is ours, only its claims refuse it
            raise
        if self._cache_size:
            remember(self._cache, opened.token, verified, self._cache_size)
        return verified

    @staticmethod
    def _claims(jws: CompactJWS) -> dict[str, Any]:
        """The payload as a JSON object, or why not (what :meth:`open` read as None)."""
        try:
            claims = orjson.loads(jws.payload)
        except orjson.JSONDecodeError as exc:
            raise InvalidAccessToken(f"claims are not valid JSON: {exc.msg}") from None
        if not isinstance(claims, dict):
            raise InvalidAccessToken("claims are not a JSON object")
        return claims

    def _read_claims(self, claims: dict[str, Any] | None, jws: CompactJWS, now: float) -> VerifiedAccessToken:
        if claims is None:
            claims = self._claims(jws)
        if claims.get("iss") != self._issuer:
            raise InvalidAccessToken(f"issuer {_show(claims.get('iss'))} is not this service")
        if claims.get("aud") != self._audience:
            raise InvalidAccessToken(f"audience {_show(claims.get('aud'))} is not this service")
        exp = _int_date(claims, "exp")
        if now >= exp + self._leeway:
            raise InvalidAccessToken(f"access token expired {int(now - exp)} s ago (leeway {self._leeway} s)")
        if _int_date(claims, "iat") > now + self._leeway:
            raise InvalidAccessToken("access token issued in the future")
        jti = _required(claims, "jti")
        client_id = _required(claims, "client_id")
        _required(claims, "sub")
        params = claims.get("params")
        if params is not None and not isinstance(params, dict):
            raise InvalidAccessToken("claim 'params' is not a JSON object")
        scope = _optional_str(claims, "scope")
        source = claims.get("src")
        if source not in _SOURCES:
            raise InvalidAccessToken(f"claim 'src' is {_show(source)}, not an identity source")
        identity = Identity(
            source=source,
            org_id=_required(claims, "org_id"),
            user_id=_optional_str(claims, "user_id"),
            username=_optional_str(claims, "username"),
            instance_url=_optional_str(claims, "instance_url"),
            record_id=_optional_str(claims, "record_id"),
            parameters=params or {},
            scopes=frozenset(scope.split(" ")) if scope else frozenset(),
            issuer=client_id,
            expires_at=float(exp),
        )
        return VerifiedAccessToken(identity, jti, float(exp), client_id)
