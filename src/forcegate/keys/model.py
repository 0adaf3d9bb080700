"""The values every loader returns: :class:`KeyEntry` and :class:`Keystore`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from forcegate.core.algorithms import PUBLIC_KEY_TYPES, PublicKey
from forcegate.errors import KeyMaterialError

__all__ = [
    "PRIVATE_KEY_TYPES",
    "EntryKind",
    "KeyEntry",
    "Keystore",
    "PrivateKey",
    "PublicKey",
    "SourceFormat",
    "as_private_key",
    "as_public_key",
    "certificate_public_key",
    "same_public_key",
]

PrivateKey: TypeAlias = RSAPrivateKey | EllipticCurvePrivateKey | Ed25519PrivateKey
#: :data:`PrivateKey` for ``isinstance`` (the public ones: ``forcegate.core.algorithms.PUBLIC_KEY_TYPES``).
PRIVATE_KEY_TYPES = (RSAPrivateKey, EllipticCurvePrivateKey, Ed25519PrivateKey)
EntryKind: TypeAlias = Literal["private_key", "certificate", "public_key", "secret_key"]
SourceFormat: TypeAlias = Literal["pem", "der", "jks", "pkcs12", "jwk", "jwks"]


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One named item of a keystore.

    ``kind`` says what the entry can do: ``private_key`` signs (its ``certificate`` and ``chain``
    are set when known, ``public_key`` always), ``certificate`` and ``public_key`` verify,
    ``secret_key`` is an HMAC key from a JWK ``oct``. ``private_key`` and ``secret`` are left out
    of ``repr`` so an entry can be logged.
    """

    alias: str
    kind: EntryKind
    source_format: SourceFormat
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    private_key: PrivateKey | None = field(default=None, repr=False)
    public_key: PublicKey | None = None
    secret: bytes | None = field(default=None, repr=False)
    kid: str | None = None
    jwk_alg: str | None = None


@dataclass(frozen=True, slots=True)
class Keystore:
    """An ordered collection of entries, as read from one file or document."""

    entries: tuple[KeyEntry, ...]

    @property
    def aliases(self) -> tuple[str, ...]:
        """The aliases in file order."""
        return tuple(entry.alias for entry in self.entries)

    def get(self, alias: str) -> KeyEntry:
        """The entry named ``alias``.

        An exact match wins; otherwise a unique case-insensitive match is accepted, because Java's
        JKS lower-cases aliases on import (``keytool -alias MyCert`` stores ``mycert``).
        """
        for entry in self.entries:
            if entry.alias == alias:
                return entry
        folded = [entry for entry in self.entries if entry.alias.casefold() == alias.casefold()]
        if len(folded) == 1:
            return folded[0]
        known = ", ".join(repr(a) for a in self.aliases) or "none"
        raise KeyMaterialError(f"no entry with alias {alias!r} in the keystore (aliases: {known})")

    def signing_entry(self, alias: str | None = None) -> KeyEntry:
        """The entry holding a private key: the one named ``alias``, or the only one there is."""
        if alias is not None:
            entry = self.get(alias)
            if entry.private_key is None:
                raise KeyMaterialError(f"entry {entry.alias!r} is a {entry.kind} entry, not a private key")
            return entry
        signing = [entry for entry in self.entries if entry.private_key is not None]
        if len(signing) == 1:
            return signing[0]
        if not signing:
            raise KeyMaterialError("the keystore holds no private key entry")
        names = ", ".join(repr(entry.alias) for entry in signing)
        raise KeyMaterialError(f"the keystore holds several private keys ({names}); name one by its alias")


def as_public_key(key: object) -> PublicKey | None:
    """``key`` when it is a public key type forcegate can verify with, else ``None``."""
    if isinstance(key, PUBLIC_KEY_TYPES):
        return key
    return None


def certificate_public_key(certificate: x509.Certificate) -> PublicKey | None:
    """The certificate's key when it is of a supported type; ``None`` for DSA, Ed448, unknown ones."""
    try:
        return as_public_key(certificate.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return None


def as_private_key(key: object) -> PrivateKey:
    """``key`` when it is a supported private key type; :class:`KeyMaterialError` otherwise."""
    if isinstance(key, PRIVATE_KEY_TYPES):
        return key
    raise KeyMaterialError(f"unsupported private key type {type(key).__name__} (RSA, EC or Ed25519 expected)")


def same_public_key(a: object, b: object) -> bool:
    """Whether two public keys are the same key (compared by their SubjectPublicKeyInfo)."""
    pa, pb = as_public_key(a), as_public_key(b)
    if pa is None or pb is None:
        return False
    spki = Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    return pa.public_bytes(*spki) == pb.public_bytes(*spki)
