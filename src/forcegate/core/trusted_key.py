"""A key the verifier trusts, with what identifies it (``kid``, ``x5t#S256``) and where it came from.

Keys are always supplied by configuration (a certificate registered for an org, a file given on
the command line). A token never supplies its own key: ``jwk``, ``jku``, ``x5u`` and ``x5c`` header
parameters are ignored by design.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core._b64 import b64url_encode
from forcegate.core.algorithms import PUBLIC_KEY_TYPES, PublicKey, compatible_algorithms
from forcegate.errors import KeyMaterialError

__all__ = ["PublicKey", "TrustedKey", "x5t_s256"]


def x5t_s256(certificate: x509.Certificate) -> str:
    """RFC 7515 §4.1.8 ``x5t#S256``: base64url SHA-256 of the certificate's DER."""
    return b64url_encode(hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest())


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """One verification key.

    ``key`` is a public key, or ``bytes`` for an HMAC (JWK ``oct``) key. ``not_before`` and
    ``not_after`` are the certificate's validity window in epoch seconds when the key came from a
    certificate: the verifier uses the key only inside that window (give or take its leeway), so a
    certificate registered before it starts verifies nothing until then, and an expired one nothing
    at all unless the policy says otherwise. ``algorithms``, when set
    (from a JWK's ``alg``), restricts the key to those algorithms on top of the policy.
    """

    key: PublicKey | bytes = field(repr=False)
    kid: str | None = None
    x5t_s256: str | None = None
    label: str = ""
    not_after: float | None = None
    not_before: float | None = None
    algorithms: frozenset[str] | None = None
    #: The supported algorithms this key fits (type, curve, size), computed once: the verifier
    #: consults it on every token, and a set lookup is far cheaper than re-inspecting the key.
    usable_with: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        usable = compatible_algorithms(self.key)
        if self.algorithms is not None:
            object.__setattr__(self, "algorithms", frozenset(self.algorithms))
            usable &= self.algorithms
        object.__setattr__(self, "usable_with", usable)

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate, *, label: str = "", kid: str | None = None) -> TrustedKey:
        """Trust the public key of ``certificate``; ``x5t#S256`` and expiry come from it."""
        public_key = certificate.public_key()
        if not isinstance(public_key, PUBLIC_KEY_TYPES):
            raise KeyMaterialError(f"certificate key type {type(public_key).__name__} cannot verify JWS")
        return cls(
            key=public_key,
            kid=kid,
            x5t_s256=x5t_s256(certificate),
            label=label or certificate.subject.rfc4514_string(),
            not_after=certificate.not_valid_after_utc.timestamp(),
            not_before=certificate.not_valid_before_utc.timestamp(),
        )
