"""Compact JWS (RFC 7515 §7.1): strict parsing, header rules, key selection, signature check.

Only the compact serialization is accepted — it is all Apex and External Credentials produce. The
parser is strict where leniency would let one token have several spellings (padding, non-canonical
base64url, duplicate JSON members) or let the token steer the verifier (``alg`` outside the
allow-list, ``none``, ``crit``, ``b64: false``). Keys come only from the caller: ``jwk``, ``jku``,
``x5u`` and ``x5c`` in a header are ignored, never fetched or trusted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from forcegate.core._b64 import b64url_decode_segment
from forcegate.core._json import UNIQUE_MEMBERS_DECODER, loads_unique
from forcegate.core.algorithms import SUPPORTED_ALGORITHMS, JWSAlgorithm, get_algorithm
from forcegate.core.trusted_key import TrustedKey
from forcegate.errors import (
    ConfigurationError,
    InvalidSignature,
    KeyNotFound,
    MalformedToken,
    TokenTooLarge,
    UnsupportedAlgorithm,
    UnsupportedCriticalHeader,
)

__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "CompactJWS",
    "JWSVerifier",
    "VerifiedJWS",
    "loads_claims",
    "loads_json_object",
    "parse_compact",
]

DEFAULT_MAX_TOKEN_BYTES = 16 * 1024
DEFAULT_MAX_KEYS = 8


def loads_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse ``data`` as a UTF-8 JSON object, strictly (no duplicates, no NaN/Infinity)."""
    try:
        value = UNIQUE_MEMBERS_DECODER.decode(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedToken(f"{what} is not UTF-8") from None
    except RecursionError:
        raise MalformedToken(f"{what} JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, duplicate members
        raise MalformedToken(f"{what} is not acceptable JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"{what} is not a JSON object")
    return value


def loads_claims(data: bytes) -> dict[str, Any]:
    """Parse a JWT claims set as a JSON object.

    orjson (:func:`~forcegate.core._json.loads_unique`), because on the verification hot path the
    standard library's decoder costs a fifth of an RSA verify. It rejects invalid UTF-8, lone
    surrogates, NaN/Infinity, nesting deeper than :data:`~forcegate.core._json.MAX_DEPTH` (254) and
    duplicate member names (two ``sub`` or ``exp``: another verifier keeping the other one would
    see another token).
    """
    try:
        value = loads_unique(data)
    except ValueError as exc:
        raise MalformedToken(f"claims are not acceptable JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise MalformedToken("claims are not a JSON object")
    return value


class CompactJWS(NamedTuple):
    """A parsed, not yet verified, compact JWS."""

    header: Mapping[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes
    algorithm: str


class VerifiedJWS(NamedTuple):
    """A JWS whose signature has been checked with ``key``.

    (These two records are tuples because they are built on every request, and a frozen dataclass
    costs several times more to construct.)
    """

    header: Mapping[str, Any]
    payload: bytes
    algorithm: str
    key: TrustedKey


def _decode_segment(segment: str, what: str) -> bytes:
    try:
        return b64url_decode_segment(segment)
    except ValueError as exc:
        raise MalformedToken(f"{what}: {exc}") from None


def _check_header(header: Mapping[str, Any], allowed: Collection[str]) -> JWSAlgorithm:
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedToken("header has no string 'alg'")
    if alg not in allowed:
        raise UnsupportedAlgorithm(f"algorithm {alg!r} is not in the allow-list {sorted(allowed)}")
    if "crit" in header:
        # RFC 7515 §4.1.11: a recipient that does not understand a listed extension must reject.
        # forcegate understands none (this also refuses RFC 7797 "b64": false, which needs crit).
        raise UnsupportedCriticalHeader(f"critical header parameters {header['crit']!r} are not supported")
    if "b64" in header:
        raise UnsupportedCriticalHeader("header parameter 'b64' (RFC 7797) is not supported")
    for name in ("kid", "x5t#S256"):
        if name in header and not isinstance(header[name], str):
            raise MalformedToken(f"header {name!r} is not a string")
    return get_algorithm(alg)


def parse_compact(
    token: str | bytes, *, algorithms: Collection[str] = ("RS256",), max_bytes: int = DEFAULT_MAX_TOKEN_BYTES
) -> CompactJWS:
    """Parse a compact JWS and check its header against the allow-list ``algorithms``.

    Raises :class:`~forcegate.errors.TokenError` subclasses; verifies nothing cryptographic. To
    parse many tokens, reuse a :class:`JWSVerifier`, which caches validated headers.
    """
    return JWSVerifier(algorithms=algorithms, max_bytes=max_bytes).parse(token)


def _in_validity(key: TrustedKey, now: float | None, leeway: float) -> bool:
    """Whether ``key``'s certificate is valid at ``now`` (None: not checked), give or take ``leeway``."""
    if now is None:
        return True
    if key.not_after is not None and key.not_after < now - leeway:
        return False
    return key.not_before is None or key.not_before <= now + leeway


def _why_unusable(
    alg: str, keys: Sequence[TrustedKey], header: Mapping[str, Any], now: float | None, leeway: float
) -> str:
    """Explain, for the log, why no key was a candidate (only computed on the failure path)."""
    if not keys:
        return "no keys are trusted"
    algorithm = get_algorithm(alg)
    reasons: set[str] = set()
    for key in keys:
        problem = algorithm.key_problem(key.key)
        if problem is None and key.algorithms is not None and alg not in key.algorithms:
            problem = f"key {key.label!r} is restricted to {sorted(key.algorithms)}"
        if problem is None and not _in_validity(key, now, leeway):
            expired = key.not_after is not None and now is not None and key.not_after < now - leeway
            problem = f"certificate {key.label!r} " + ("has expired" if expired else "is not valid yet")
        if problem is None and "x5t#S256" in header:
            problem = "no trusted certificate has the token's x5t#S256"
        if problem is not None:
            reasons.add(problem)
    return "; ".join(sorted(reasons))


class JWSVerifier:
    """Verifies compact JWS signatures against caller-supplied keys, with an algorithm allow-list.

    Key selection (RFC 7515 §6): when the header names a key by ``x5t#S256``, only a key with that
    certificate thumbprint may verify (none means :class:`KeyNotFound`); when it names one by
    ``kid``, only keys with that ``kid`` are tried if there are any, else every usable key is
    tried — External Credentials put identifiers there whose format the registry cannot know. At
    most ``max_keys`` keys are tried per token, bounding the work a token can cause.
    """

    __slots__ = ("_algorithms", "_headers", "_max_bytes", "_max_keys")

    #: Validated headers kept per verifier (see :meth:`parse`); cleared when full.
    HEADER_CACHE_SIZE = 64

    def __init__(
        self,
        *,
        algorithms: Collection[str] = ("RS256",),
        max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        chosen = frozenset(algorithms)
        if not chosen:
            raise ConfigurationError("the algorithm allow-list is empty")
        unknown = chosen - SUPPORTED_ALGORITHMS
        if unknown:
            raise ConfigurationError(
                f"unsupported algorithms {sorted(unknown)}; choose from {sorted(SUPPORTED_ALGORITHMS)}"
            )
        if max_bytes < 64 or max_keys < 1:
            raise ConfigurationError("max_bytes must be >= 64 and max_keys >= 1")
        self._algorithms = chosen
        self._max_bytes = max_bytes
        self._max_keys = max_keys
        self._headers: dict[str, tuple[Mapping[str, Any], JWSAlgorithm]] = {}

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    def parse(self, token: str | bytes) -> CompactJWS:
        """Parse ``token`` and check its header, without verifying the signature.

        This is the hot path of every verification, so it is written flat. Validated headers are
        cached by their encoded segment: Apex sends the same 20-character header on every token, and
        parsing it again would cost as much as the rest of the claims work. Only headers that passed
        every check are cached, and the cache is bounded so a stream of distinct headers cannot grow
        it.
        """
        if len(token) > self._max_bytes:  # before any parsing work
            raise TokenTooLarge(f"token of {len(token)} bytes exceeds the {self._max_bytes}-byte limit")
        if isinstance(token, bytes):
            try:
                text = token.decode("ascii")
            except UnicodeDecodeError:
                raise MalformedToken("token is not ASCII") from None
        elif token.isascii():
            text = token
        else:
            raise MalformedToken("token is not ASCII")
        segments = text.split(".")
        if len(segments) != 3:
            raise MalformedToken(f"not a compact JWS: {len(segments)} segments instead of 3")
        header_segment, payload_segment, signature_segment = segments
        if not header_segment or not signature_segment:
            # An empty signature is an unsecured JWS (alg "none"): never accepted.
            raise MalformedToken("not a compact JWS: empty header or signature segment")
        cached = self._headers.get(header_segment)
        if cached is None:
            header: Mapping[str, Any] = MappingProxyType(
                loads_json_object(_decode_segment(header_segment, "header"), "header")
            )
            algorithm = _check_header(header, self._algorithms)
            if len(self._headers) >= self.HEADER_CACHE_SIZE:
                self._headers.clear()
            self._headers[header_segment] = (header, algorithm)
        else:
            header, algorithm = cached
        try:
            payload = b64url_decode_segment(payload_segment)
        except ValueError as exc:
            raise MalformedToken(f"payload: {exc}") from None
        try:
            signature = b64url_decode_segment(signature_segment)
        except ValueError as exc:
            raise MalformedToken(f"signature: {exc}") from None
        signing_input = text[: len(header_segment) + len(payload_segment) + 1].encode("ascii")
        return CompactJWS(header, payload, signing_input, signature, algorithm.name)

    def candidates(
        self, jws: CompactJWS, keys: Sequence[TrustedKey], *, now: float | None = None, leeway: float = 0
    ) -> list[TrustedKey]:
        """The keys that may verify ``jws``, in the order they will be tried.

        ``now``, when given, excludes keys whose certificate is outside its validity window at
        ``now``, give or take ``leeway`` seconds (expired, or not valid yet).
        """
        alg = jws.algorithm
        usable = [k for k in keys if alg in k.usable_with and _in_validity(k, now, leeway)]
        thumbprint = jws.header.get("x5t#S256")
        if thumbprint is not None:
            usable = [k for k in usable if k.x5t_s256 == thumbprint]
        else:
            kid = jws.header.get("kid")
            if kid is not None:
                named = [k for k in usable if k.kid == kid]
                if named:
                    usable = named
        if not usable:
            raise KeyNotFound(
                f"no trusted key can verify this {alg} token ({_why_unusable(alg, keys, jws.header, now, leeway)})"
            )
        return usable[: self._max_keys]

    def verify_signature(
        self, jws: CompactJWS, keys: Sequence[TrustedKey], *, now: float | None = None, leeway: float = 0
    ) -> VerifiedJWS:
        """Check the signature with the candidate keys; the first that verifies is reported."""
        algorithm = get_algorithm(jws.algorithm)
        for key in self.candidates(jws, keys, now=now, leeway=leeway):
            if algorithm.verify(key.key, jws.signing_input, jws.signature):
                return VerifiedJWS(header=jws.header, payload=jws.payload, algorithm=jws.algorithm, key=key)
        raise InvalidSignature(f"{jws.algorithm} signature does not verify with any trusted key")

    def verify(
        self, token: str | bytes, keys: Sequence[TrustedKey], *, now: float | None = None, leeway: float = 0
    ) -> VerifiedJWS:
        """Parse ``token`` and verify its signature; ``now`` enables the certificate validity check."""
        return self.verify_signature(self.parse(token), keys, now=now, leeway=leeway)
