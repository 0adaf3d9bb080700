"""The org's side of the Apex JWT flow: ``Auth.JWT``, ``Auth.JWS`` and Certificate and Key Management.

This emulates what Apex produces, so tests, demos and local development can mint exactly the
assertions a subscriber org sends. Relied on (Apex Reference Guide, API 67.0): ``Auth.JWT``
"generates the JSON Claims Set"; ``setAdditionalClaims``: "Additional claims must not include any
standard claims"; ``setNbfClockSkew`` "sets the not before (nbf) claim"; ``setValidityLength`` sets
"the length of time (in seconds) that the JWT is valid, which affects the expiration (exp) claim".
``Auth.JWS(jwt, certDevName)`` "calls the toJSONString() method in Auth.JWT and sets the resulting
string as the payload", ``Auth.JWS(payload, certDevName)`` takes the payload directly, and
``certDevName`` is "the Unique Name for a certificate stored in the Salesforce org's Certificate and
Key Management page". Both classes have ``clone``; ``Auth.JWS`` has ``getCompactSerialization``.
Pages: developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_class_Auth_JWT.htm and
``apex_class_Auth_JWS.htm`` beside it.

What the reference leaves open, and what this emulator decides (docs/migrating-from-canvas.md describes Apex's side):

* The header is exactly ``{"alg":"RS256"}``; Apex offers no way to add ``kid``, ``typ`` or ``x5t``.
* The default validity length is not documented. We use 300 s.
* Whether ``nbf`` is present when ``setNbfClockSkew`` was never called is not documented. We always
  emit ``nbf = now - skew`` with a default skew of 0, so a verifier sees the claim either way.
  Verifiers must not depend on this: treat ``nbf`` as optional.
* Apex is not documented to emit ``iat`` or ``jti``, so neither is emitted.
* The reference does not list which names count as "standard claims"; we refuse the seven
  registered claim names of RFC 7519 §4.1 (``iss sub aud exp nbf iat jti``), case-sensitively as
  JWT claim names are.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from forcegate.clock import Clock, SystemClock
from forcegate.core.jws_sign import sign, sign_compact
from forcegate.errors import ConfigurationError, InvalidAdditionalClaim

__all__ = [
    "DEFAULT_NBF_CLOCK_SKEW",
    "DEFAULT_VALIDITY_LENGTH",
    "SALESFORCE_ALGORITHMS",
    "STANDARD_CLAIMS",
    "AuthJWS",
    "AuthJWT",
    "CertificateAndKeyManagement",
    "KeystoreEntryLike",
    "KeystoreLike",
]

# The reference is silent on the default; 300 s is our choice, not an observed Salesforce value.
DEFAULT_VALIDITY_LENGTH = 300
DEFAULT_NBF_CLOCK_SKEW = 0

STANDARD_CLAIMS: frozenset[str] = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})

#: What Salesforce signs with: ``Auth.JWS`` RS256 only, an External Credential RS256 or RS512 (Salesforce
#: Help, "Set Up JWT Claims for External Credentials").
SALESFORCE_ALGORITHMS: frozenset[str] = frozenset({"RS256", "RS512"})

# Key sizes Certificate and Key Management creates and imports.
_SALESFORCE_RSA_SIZES = frozenset({2048, 3072, 4096})


# --- Certificate and Key Management ---------------------------------------------------------------


class KeystoreEntryLike(Protocol):
    """One keystore entry, as far as this module needs it (``forcegate.keys`` entries fit)."""

    @property
    def alias(self) -> str: ...

    @property
    def private_key(self) -> object: ...

    @property
    def certificate(self) -> object: ...


class KeystoreLike(Protocol):
    """A keystore with ``entries`` (``forcegate.keys.Keystore`` fits; it is not imported here)."""

    @property
    def entries(self) -> Iterable[KeystoreEntryLike]: ...


@dataclass(frozen=True, slots=True)
class _NamedCertificate:
    private_key: RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate


class CertificateAndKeyManagement:
    """The org's named certificates (Setup > Certificate and Key Management); private keys never leave it.

    Each certificate is known by its Unique Name, the ``certDevName`` that ``Auth.JWS`` takes. Only
    RSA keys of 2048, 3072 or 4096 bits are accepted, as Salesforce creates and imports no other
    kind. There is no accessor for a private key: callers can only ask for a signature.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, _NamedCertificate] = {}

    def __repr__(self) -> str:
        return f"CertificateAndKeyManagement(names={self.names()!r})"

    def add(self, name: str, *, private_key: RSAPrivateKey, certificate: x509.Certificate) -> None:
        """Store ``certificate`` and its ``private_key`` under the Unique Name ``name``.

        Raises :class:`~forcegate.errors.ConfigurationError` when the name is empty or taken, the key
        is not RSA of a size Salesforce supports, or the certificate does not belong to the key.
        """
        self._add_checked(name, private_key, certificate)

    @classmethod
    def from_keystore(cls, keystore: KeystoreLike) -> CertificateAndKeyManagement:
        """Import every key entry of a keystore, named by its alias (Salesforce imports JKS this way).

        Entries without both a private key and a certificate (trusted-certificate entries) are
        skipped; an entry :meth:`add` would refuse raises :class:`~forcegate.errors.ConfigurationError`.
        """
        store = cls()
        for entry in keystore.entries:
            if entry.private_key is not None and entry.certificate is not None:
                store._add_checked(entry.alias, entry.private_key, entry.certificate)
        return store

    def _add_checked(self, name: str, private_key: object, certificate: object) -> None:
        # Runtime checks: keys also arrive untyped from keystores.
        if not isinstance(name, str) or not name:
            raise ConfigurationError("a certificate's Unique Name must be a non-empty string")
        if name in self._entries:
            raise ConfigurationError(f"a certificate named {name!r} already exists")
        if not isinstance(private_key, RSAPrivateKey):
            raise ConfigurationError(f"{name!r}: Salesforce signs with RSA keys only, not {type(private_key).__name__}")
        if private_key.key_size not in _SALESFORCE_RSA_SIZES:
            raise ConfigurationError(
                f"{name!r}: RSA key of {private_key.key_size} bits; Salesforce uses 2048, 3072 or 4096"
            )
        if not isinstance(certificate, x509.Certificate):
            raise ConfigurationError(f"{name!r}: expected an x509.Certificate, not {type(certificate).__name__}")
        cert_key = certificate.public_key()
        if (
            not isinstance(cert_key, RSAPublicKey)
            or cert_key.public_numbers() != private_key.public_key().public_numbers()
        ):
            raise ConfigurationError(f"certificate {name!r} does not hold the public half of the given private key")
        self._entries[name] = _NamedCertificate(private_key=private_key, certificate=certificate)

    def names(self) -> list[str]:
        """The Unique Names of all stored certificates, sorted."""
        return sorted(self._entries)

    def certificate(self, name: str) -> x509.Certificate:
        """The certificate stored as ``name`` (public material: safe to hand to a verifier)."""
        return self._entry(name).certificate

    def sign_rs256(self, name: str, signing_input: bytes) -> bytes:
        """RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3) over ``signing_input`` with key ``name``."""
        return sign("RS256", self._entry(name).private_key, signing_input)

    def sign_jws(
        self, name: str, payload: bytes, *, alg: str = "RS256", header: Mapping[str, object] | None = None
    ) -> str:
        """``payload`` as a compact JWS signed with key ``name``: by default RS256 with header ``{"alg":"RS256"}``.

        That default is ``Auth.JWS``, which has no way to add header members. An External Credential
        (:mod:`forcegate.devtools.named_credential`) signs RS256 or RS512 and adds ``typ`` and ``kid``.
        The signing itself is :func:`forcegate.core.jws_sign.sign_compact`, the same code forcegate's
        own outbound login uses.
        """
        if alg not in SALESFORCE_ALGORITHMS:
            raise ConfigurationError(f"Salesforce signs with {' or '.join(sorted(SALESFORCE_ALGORITHMS))}, not {alg!r}")
        return sign_compact(payload, self._entry(name).private_key, alg=alg, header=header)

    def _entry(self, name: str) -> _NamedCertificate:
        try:
            return self._entries[name]
        except KeyError:
            # Apex throws when certDevName names no certificate; say which name was asked for.
            raise ConfigurationError(f"no certificate with Unique Name {name!r}") from None


# --- Auth.JWT --------------------------------------------------------------------------------------


def _check_optional_str(what: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string or None, not {type(value).__name__}")
    return value


def _check_int(what: str, value: object) -> int:
    # bool is an int in Python but an Apex Integer never is.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{what} must be an integer number of seconds, not {type(value).__name__}")
    return value


def _checked_claims(claims: Mapping[str, object] | None) -> dict[str, object]:
    if claims is None:
        return {}
    if not isinstance(claims, Mapping):
        raise InvalidAdditionalClaim(f"additional claims must be a mapping, not {type(claims).__name__}")
    checked: dict[str, object] = {}
    for name, value in claims.items():
        if not isinstance(name, str):
            raise InvalidAdditionalClaim(f"claim names must be strings, not {type(name).__name__}")
        if name in STANDARD_CLAIMS:
            raise InvalidAdditionalClaim(f"{name!r} is a standard claim and cannot be an additional claim")
        try:
            json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            # Name the claim and the type, never the value: claim values may be sensitive.
            raise InvalidAdditionalClaim(
                f"claim {name!r}: value of type {type(value).__name__} cannot be serialised to JSON ({exc})"
            ) from None
        # A private copy: later changes to the caller's objects must not alter a minted token.
        checked[name] = copy.deepcopy(value)
    return checked


class AuthJWT:
    """Apex ``Auth.JWT``: a mutable JWT claims set builder.

    Claims are serialised in a fixed order: ``iss``, ``sub``, ``aud``, ``exp``, ``nbf``, then the
    additional claims in insertion order. ``iss``, ``sub`` and ``aud`` are left out while unset.
    """

    __slots__ = ("_additional_claims", "_aud", "_iss", "_nbf_clock_skew", "_sub", "_validity_length")

    def __init__(
        self,
        *,
        iss: str | None = None,
        sub: str | None = None,
        aud: str | None = None,
        validity_length: int = DEFAULT_VALIDITY_LENGTH,
        nbf_clock_skew: int = DEFAULT_NBF_CLOCK_SKEW,
        additional_claims: Mapping[str, object] | None = None,
    ) -> None:
        """``new Auth.JWT()``; the keyword options are shortcuts for the matching setters."""
        self._iss = _check_optional_str("iss", iss)
        self._sub = _check_optional_str("sub", sub)
        self._aud = _check_optional_str("aud", aud)
        self._validity_length = _check_int("validity length", validity_length)
        self._nbf_clock_skew = _check_int("nbf clock skew", nbf_clock_skew)
        self._additional_claims = _checked_claims(additional_claims)

    def get_iss(self) -> str | None:
        """``getIss()``: the issuer (``iss``) claim."""
        return self._iss

    def set_iss(self, iss: str | None) -> None:
        """``setIss(iss)``: set the issuer (``iss``) claim."""
        self._iss = _check_optional_str("iss", iss)

    def get_sub(self) -> str | None:
        """``getSub()``: the subject (``sub``) claim."""
        return self._sub

    def set_sub(self, sub: str | None) -> None:
        """``setSub(sub)``: set the subject (``sub``) claim."""
        self._sub = _check_optional_str("sub", sub)

    def get_aud(self) -> str | None:
        """``getAud()``: the audience (``aud``) claim, one string as in Apex."""
        return self._aud

    def set_aud(self, aud: str | None) -> None:
        """``setAud(aud)``: set the audience (``aud``) claim."""
        self._aud = _check_optional_str("aud", aud)

    def get_validity_length(self) -> int:
        """``getValidityLength()``: seconds from signing until ``exp``."""
        return self._validity_length

    def set_validity_length(self, validity_length: int) -> None:
        """``setValidityLength(validityLength)``: ``exp`` becomes now + this many seconds.

        Any integer is accepted, as in Apex; zero or negative values mint already-expired tokens,
        which is useful for testing verifiers.
        """
        self._validity_length = _check_int("validity length", validity_length)

    def get_nbf_clock_skew(self) -> int:
        """``getNbfClockSkew()``: seconds subtracted from now to form ``nbf``."""
        return self._nbf_clock_skew

    def set_nbf_clock_skew(self, nbf_clock_skew: int) -> None:
        """``setNbfClockSkew(nbfClockSkew)``: ``nbf`` becomes now - this many seconds.

        A negative skew puts ``nbf`` in the future, which mints a not-yet-valid token.
        """
        self._nbf_clock_skew = _check_int("nbf clock skew", nbf_clock_skew)

    def get_additional_claims(self) -> dict[str, object]:
        """``getAdditionalClaims()``: a copy of the claims given to :meth:`set_additional_claims`."""
        return copy.deepcopy(self._additional_claims)

    def set_additional_claims(self, additional_claims: Mapping[str, object] | None) -> None:
        """``setAdditionalClaims(additionalClaims)``: replace the additional claims.

        Raises :class:`~forcegate.errors.InvalidAdditionalClaim` for a standard claim name (Apex:
        "Additional claims must not include any standard claims"), a non-string name, or a value
        that cannot be serialised to JSON. On error nothing is changed.
        """
        self._additional_claims = _checked_claims(additional_claims)

    def clone(self) -> AuthJWT:
        """``clone()``: an independent copy."""
        return AuthJWT(
            iss=self._iss,
            sub=self._sub,
            aud=self._aud,
            validity_length=self._validity_length,
            nbf_clock_skew=self._nbf_clock_skew,
            additional_claims=self._additional_claims,
        )

    def claims(self, *, clock: Clock | None = None) -> dict[str, object]:
        """The claims set as a dict, with ``exp`` and ``nbf`` computed from ``clock`` (default: system time)."""
        # Whole seconds (RFC 7519 NumericDate as Apex writes it); floor so exp never exceeds now + validity.
        now = math.floor((clock or SystemClock()).now())
        result: dict[str, object] = {}
        for name, value in (("iss", self._iss), ("sub", self._sub), ("aud", self._aud)):
            if value is not None:
                result[name] = value
        result["exp"] = now + self._validity_length
        result["nbf"] = now - self._nbf_clock_skew
        result.update(copy.deepcopy(self._additional_claims))
        return result

    def to_json_string(self, *, clock: Clock | None = None) -> str:
        """``toJSONString()``: the claims set as compact JSON, times taken from ``clock``."""
        return json.dumps(self.claims(clock=clock), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# --- Auth.JWS --------------------------------------------------------------------------------------


class AuthJWS:
    """Apex ``Auth.JWS``: an RS256-signed JWS in compact serialisation, signed by a named certificate.

    The payload is fixed at construction, as in Apex (``JWS(jwt, certDevName)`` calls
    ``toJSONString()`` then). With a string payload the string is used as-is, unvalidated, so tests
    can also mint assertions with unusual or malformed claims sets. (The reference calls that
    string the "Base64-encoded JSON Claims Set"; like the ``Auth.JWT`` form, it is the JSON text,
    which the JWS encodes.)
    """

    # The header every serialisation has, byte for byte (CertificateAndKeyManagement.sign_jws writes it).
    HEADER: bytes = b'{"alg":"RS256"}'

    __slots__ = ("_cert_dev_name", "_certificates", "_compact", "_payload")

    def __init__(
        self,
        jwt_or_payload: AuthJWT | str,
        cert_dev_name: str,
        *,
        certificates: CertificateAndKeyManagement,
        clock: Clock | None = None,
    ) -> None:
        """``new Auth.JWS(jwt, certDevName)`` or ``new Auth.JWS(payload, certDevName)``.

        ``clock`` sets ``exp``/``nbf`` when given an :class:`AuthJWT`. Raises
        :class:`~forcegate.errors.ConfigurationError` when ``cert_dev_name`` names no certificate.
        """
        if isinstance(jwt_or_payload, AuthJWT):
            payload = jwt_or_payload.to_json_string(clock=clock)
        elif isinstance(jwt_or_payload, str):
            payload = jwt_or_payload
        else:
            raise ConfigurationError(f"JWS payload must be an AuthJWT or a string, not {type(jwt_or_payload).__name__}")
        try:
            self._payload: bytes = payload.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigurationError("JWS payload is not encodable as UTF-8") from None
        # Fail here rather than at signing time, so a wrong Unique Name is reported where it is given.
        certificates.certificate(cert_dev_name)
        self._cert_dev_name = cert_dev_name
        self._certificates = certificates
        self._compact: str | None = None

    def __repr__(self) -> str:
        # Never the serialisation: it is a bearer credential.
        return f"AuthJWS(cert_dev_name={self._cert_dev_name!r})"

    def compact_serialization(self) -> str:
        """``getCompactSerialization()``: ``base64url(header).base64url(payload).base64url(signature)``.

        RS256 (RSASSA-PKCS1-v1_5 with SHA-256) is deterministic, so computing it once is exact.
        """
        if self._compact is None:
            self._compact = self._certificates.sign_jws(self._cert_dev_name, self._payload)
        return self._compact

    def clone(self) -> AuthJWS:
        """``clone()``: a copy with the same payload and certificate."""
        twin = AuthJWS.__new__(AuthJWS)
        twin._payload = self._payload
        twin._cert_dev_name = self._cert_dev_name
        twin._certificates = self._certificates
        twin._compact = self._compact
        return twin
