"""The JWS algorithms forcegate can verify, each bound to the one key type it may use (RFC 7518 §3).

Which of them a verifier *accepts* is never decided here nor by a token: it is the allow-list of
the verifier's policy (default ``RS256`` only, the one algorithm Apex's ``Auth.JWS`` produces).
This module only knows how to check a signature once the policy has allowed the algorithm, and
refuses a key that does not fit the algorithm (an RSA key for ``ES256``, an HMAC secret for
``RS256`` — the classic algorithm-confusion attack) or that is too weak for it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "ASSERTION_ALGORITHMS",
    "MIN_RSA_BITS",
    "PUBLIC_KEY_TYPES",
    "SUPPORTED_ALGORITHMS",
    "JWSAlgorithm",
    "PublicKey",
    "compatible_algorithms",
    "get_algorithm",
]

PublicKey: TypeAlias = RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey
#: The same union for ``isinstance`` checks: the one place the verification key types are listed.
PUBLIC_KEY_TYPES = (RSAPublicKey, ec.EllipticCurvePublicKey, Ed25519PublicKey)

MIN_RSA_BITS = 2048

_Key = PublicKey | bytes
_Verify = Callable[[_Key, bytes, bytes], bool]
_KeyProblem = Callable[[_Key], str | None]


@dataclass(frozen=True, slots=True)
class JWSAlgorithm:
    """One JWS ``alg``: how to verify with it and which keys it accepts.

    ``key_problem(key)`` returns ``None`` when the key may be used with this algorithm, else the
    reason it may not. ``verify(key, signing_input, signature)`` returns whether the signature is
    valid; it is only called with keys that passed ``key_problem``.
    """

    name: str
    key_problem: _KeyProblem
    verify: _Verify


def _rsa(name: str, hash_algorithm: hashes.HashAlgorithm, *, pss: bool) -> JWSAlgorithm:
    pad: padding.AsymmetricPadding = (
        # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
        padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
        if pss
        else padding.PKCS1v15()
    )

    def key_problem(key: _Key) -> str | None:
        if not isinstance(key, RSAPublicKey):
            return f"{name} needs an RSA key"
        if key.key_size < MIN_RSA_BITS:
            return f"RSA key of {key.key_size} bits is below the {MIN_RSA_BITS}-bit minimum"
        return None

    def verify(key: _Key, signing_input: bytes, signature: bytes) -> bool:
        key = cast(RSAPublicKey, key)  # key_problem() ran first
        # RFC 8017 §8.2.2 step 1: the signature is exactly k octets. OpenSSL tolerates a short one
        # (leading zeros stripped); a JWS verifier must not, or one token has several spellings.
        if len(signature) != (key.key_size + 7) // 8:
            return False
        try:
            key.verify(signature, signing_input, pad, hash_algorithm)
        except InvalidSignature:
            return False
        return True

    return JWSAlgorithm(name, key_problem, verify)


def _ecdsa(name: str, curve: type[ec.EllipticCurve], hash_algorithm: hashes.HashAlgorithm) -> JWSAlgorithm:
    signature_algorithm = ec.ECDSA(hash_algorithm)

    def key_problem(key: _Key) -> str | None:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return f"{name} needs an EC key"
        if not isinstance(key.curve, curve):
            # RFC 7518 §3.4 binds each ES* to one curve; P-384 with SHA-256 is not ES256.
            return f"{name} needs curve {curve.name}, not {key.curve.name}"
        return None

    def verify(key: _Key, signing_input: bytes, signature: bytes) -> bool:
        key = cast(ec.EllipticCurvePublicKey, key)
        size = (key.curve.key_size + 7) // 8
        # RFC 7518 §3.4: R || S, each exactly `size` octets. A DER-encoded signature is refused.
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        try:
            key.verify(encode_dss_signature(r, s), signing_input, signature_algorithm)
        except InvalidSignature:
            return False
        return True

    return JWSAlgorithm(name, key_problem, verify)


def _eddsa_key_problem(key: _Key) -> str | None:
    if not isinstance(key, Ed25519PublicKey):
        return "EdDSA needs an Ed25519 key"
    return None


def _eddsa_verify(key: _Key, signing_input: bytes, signature: bytes) -> bool:
    key = cast(Ed25519PublicKey, key)
    if len(signature) != 64:
        return False
    try:
        key.verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True


def _hmac(name: str, digest: str, size: int) -> JWSAlgorithm:
    def key_problem(key: _Key) -> str | None:
        if not isinstance(key, bytes):
            return f"{name} needs a symmetric (oct) key"
        if len(key) < size:
            # RFC 7518 §3.2: a key of the same size as the hash output or larger MUST be used.
            return f"{name} needs a key of at least {size} bytes, got {len(key)}"
        return None

    def verify(key: _Key, signing_input: bytes, signature: bytes) -> bool:
        key = cast(bytes, key)
        # Full-length tag only: compare_digest of different lengths is False, never a prefix match.
        return hmac.compare_digest(hmac.digest(key, signing_input, digest), signature)

    return JWSAlgorithm(name, key_problem, verify)


_REGISTRY: dict[str, JWSAlgorithm] = {
    a.name: a
    for a in (
        _rsa("RS256", hashes.SHA256(), pss=False),
        _rsa("RS384", hashes.SHA384(), pss=False),
        _rsa("RS512", hashes.SHA512(), pss=False),
        _rsa("PS256", hashes.SHA256(), pss=True),
        _rsa("PS384", hashes.SHA384(), pss=True),
        _rsa("PS512", hashes.SHA512(), pss=True),
        _ecdsa("ES256", ec.SECP256R1, hashes.SHA256()),
        _ecdsa("ES384", ec.SECP384R1, hashes.SHA384()),
        _ecdsa("ES512", ec.SECP521R1, hashes.SHA512()),
        JWSAlgorithm("EdDSA", _eddsa_key_problem, _eddsa_verify),
        _hmac("HS256", "sha256", 32),
        _hmac("HS384", "sha384", 48),
        _hmac("HS512", "sha512", 64),
    )
}

#: Every algorithm a policy may allow. ``none`` is not among them and cannot be added.
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(_REGISTRY)

#: The algorithms an org's assertions may be allowed to use: the asymmetric ones. An HMAC algorithm
#: would need a secret shared with the org, which Salesforce's certificates never are.
ASSERTION_ALGORITHMS: frozenset[str] = frozenset(name for name in _REGISTRY if not name.startswith("HS"))


def get_algorithm(name: str) -> JWSAlgorithm:
    """The algorithm called ``name``; ``KeyError`` if forcegate does not implement it."""
    return _REGISTRY[name]


def compatible_algorithms(key: PublicKey | bytes) -> frozenset[str]:
    """Every supported algorithm that may use ``key`` (computed once per trusted key)."""
    return frozenset(name for name, algorithm in _REGISTRY.items() if algorithm.key_problem(key) is None)
