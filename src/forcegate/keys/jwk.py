"""JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) and thumbprints (RFC 7638).

Reading is strict: a JWK is refused when a member is malformed, when ``kty``/``crv``/``alg``/
``use``/``key_ops`` disagree, when the key is weak (:mod:`forcegate.keys.policy`), and when an
``x5c`` certificate does not hold the same key. A JWK that is *meant* for encryption is refused
as well: forcegate only verifies signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from forcegate.core._b64 import b64_encode, b64url_decode, b64url_encode
from forcegate.core.trusted_key import PublicKey, x5t_s256
from forcegate.errors import ConfigurationError, KeyMaterialError
from forcegate.keys._util import load_certificate
from forcegate.keys.model import (
    KeyEntry,
    Keystore,
    PrivateKey,
    SourceFormat,
    as_public_key,
    certificate_public_key,
    same_public_key,
)
from forcegate.keys.policy import check_key_strength, check_rsa_numbers

__all__ = ["key_from_jwk", "load_jwks", "public_jwk", "rfc7638_thumbprint"]

_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_HMAC_ALGS = frozenset({"HS256", "HS384", "HS512"})
# JWK curve name -> (cryptography curve, coordinate length in bytes, the one JWS alg it goes with)
_EC_CURVES: Mapping[str, tuple[ec.EllipticCurve, int, str]] = {
    "P-256": (ec.SECP256R1(), 32, "ES256"),
    "P-384": (ec.SECP384R1(), 48, "ES384"),
    "P-521": (ec.SECP521R1(), 66, "ES512"),
}
_EC_BY_NAME = {curve.name: name for name, (curve, _, _) in _EC_CURVES.items()}
_EDDSA_ALGS = frozenset({"EdDSA", "Ed25519"})  # RFC 8037; "Ed25519" is the fully specified name (RFC 9864)
_SIGNATURE_OPS = frozenset({"sign", "verify"})


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if value is None:
        raise KeyMaterialError(f"JWK member {name!r} is missing")
    if not isinstance(value, str):
        raise KeyMaterialError(f"JWK member {name!r} is not a string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise KeyMaterialError(f"JWK member {name!r} is not unpadded base64url") from None


def _uint(jwk: Mapping[str, Any], name: str, *, minimal: bool) -> int:
    raw = _member(jwk, name)
    # RFC 7518 §2 Base64urlUInt: the minimum number of octets. Enforced for the public n and e,
    # which define the key's identity (RFC 7638 thumbprint); private values are read as given.
    if not raw or (minimal and len(raw) > 1 and raw[0] == 0):
        raise KeyMaterialError(f"JWK member {name!r} is not a minimal unsigned integer")
    return int.from_bytes(raw, "big")


def _optional_str(jwk: Mapping[str, Any], name: str) -> str | None:
    value = jwk.get(name)
    if value is not None and not isinstance(value, str):
        raise KeyMaterialError(f"JWK member {name!r} is not a string")
    return value


def _check_usage(jwk: Mapping[str, Any], *, private: bool) -> None:
    use = _optional_str(jwk, "use")
    if use is not None and use != "sig":
        raise KeyMaterialError(f"JWK use {use!r} is not 'sig': only signature keys are accepted")
    ops = jwk.get("key_ops")
    if ops is None:
        return
    if not isinstance(ops, list) or not ops or not all(isinstance(op, str) for op in ops) or len(set(ops)) != len(ops):
        raise KeyMaterialError("JWK key_ops is not a non-empty list of distinct strings")
    if not set(ops) <= _SIGNATURE_OPS:
        raise KeyMaterialError(f"JWK key_ops {sorted(ops)} are not signature operations (sign, verify)")
    if not private and "verify" not in ops:
        raise KeyMaterialError("JWK key_ops of a public key does not allow 'verify'")


def _rsa(jwk: Mapping[str, Any]) -> tuple[PublicKey, PrivateKey | None]:
    n, e = _uint(jwk, "n", minimal=True), _uint(jwk, "e", minimal=True)
    check_rsa_numbers(n, e)  # before anything else is computed with them (e = 1, ROCA …)
    public = rsa.RSAPublicNumbers(e, n)
    if "d" not in jwk:
        return public.public_key(), None
    if "oth" in jwk:
        raise KeyMaterialError("multi-prime RSA JWKs ('oth') are not supported")
    d = _uint(jwk, "d", minimal=False)
    crt_names = ("p", "q", "dp", "dq", "qi")
    present = [name for name in crt_names if name in jwk]
    try:
        if not present:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
            numbers = rsa.RSAPrivateNumbers(
                p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
            )
        elif len(present) == len(crt_names):
            p, q, dp, dq, qi = (_uint(jwk, name, minimal=False) for name in crt_names)
            numbers = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public)
        else:
            raise KeyMaterialError("RSA private JWK has only some of p, q, dp, dq, qi")
        private = numbers.private_key()
    except ValueError:
        raise KeyMaterialError("RSA private JWK values are inconsistent") from None
    return private.public_key(), private


def _ec(jwk: Mapping[str, Any]) -> tuple[PublicKey, PrivateKey | None]:
    crv = _optional_str(jwk, "crv")
    if crv is None or crv not in _EC_CURVES:
        raise KeyMaterialError(f"JWK EC curve {crv!r} is not supported (P-256, P-384, P-521)")
    curve, size, _ = _EC_CURVES[crv]
    x, y = _member(jwk, "x"), _member(jwk, "y")
    # RFC 7518 §6.2.1.2: coordinates are exactly the curve's field size; a P-256 point labelled
    # P-384 is caught here as well as by the on-curve check.
    if len(x) != size or len(y) != size:
        raise KeyMaterialError(f"JWK EC coordinates are not {size} bytes long as {crv} requires")
    try:
        public = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve).public_key()
    except ValueError:
        raise KeyMaterialError(f"JWK EC point is not on {crv}") from None
    if "d" not in jwk:
        return public, None
    d = _member(jwk, "d")
    if len(d) != size:
        raise KeyMaterialError(f"JWK EC private scalar is not {size} bytes long")
    try:
        private = ec.derive_private_key(int.from_bytes(d, "big"), curve)
    except ValueError:
        raise KeyMaterialError("JWK EC private scalar is out of range") from None
    if not same_public_key(private.public_key(), public):
        raise KeyMaterialError("JWK EC private scalar does not match the public point")
    return public, private


def _okp(jwk: Mapping[str, Any]) -> tuple[PublicKey, PrivateKey | None]:
    crv = _optional_str(jwk, "crv")
    if crv != "Ed25519":
        raise KeyMaterialError(f"JWK OKP curve {crv!r} is not supported (Ed25519)")
    x = _member(jwk, "x")
    if len(x) != 32:
        raise KeyMaterialError("JWK Ed25519 public key is not 32 bytes")
    public = Ed25519PublicKey.from_public_bytes(x)
    if "d" not in jwk:
        return public, None
    d = _member(jwk, "d")
    if len(d) != 32:
        raise KeyMaterialError("JWK Ed25519 private key is not 32 bytes")
    private = Ed25519PrivateKey.from_private_bytes(d)
    if not same_public_key(private.public_key(), public):
        raise KeyMaterialError("JWK Ed25519 private key does not match 'x'")
    return public, private


_PARSERS: Mapping[str, Callable[[Mapping[str, Any]], tuple[PublicKey, PrivateKey | None]]] = {
    "RSA": _rsa,
    "EC": _ec,
    "OKP": _okp,
}


def _allowed_algs(kty: str, crv: str | None) -> frozenset[str]:
    if kty == "RSA":
        return _RSA_ALGS
    if kty == "oct":
        return _HMAC_ALGS
    if kty == "EC" and crv is not None and crv in _EC_CURVES:
        return frozenset({_EC_CURVES[crv][2]})
    if kty == "OKP" and crv == "Ed25519":
        return _EDDSA_ALGS
    return frozenset()


def _certificates(jwk: Mapping[str, Any], key: PublicKey) -> tuple[x509.Certificate, ...]:
    x5c = jwk.get("x5c")
    if x5c is None:
        return ()
    if not isinstance(x5c, list) or not x5c or not all(isinstance(item, str) for item in x5c):
        raise KeyMaterialError("JWK x5c is not a non-empty list of strings")
    try:
        # RFC 7517 §4.7: standard base64 DER, not base64url.
        chain = tuple(load_certificate(base64.b64decode(item, validate=True)) for item in x5c)
    except (ValueError, binascii.Error, x509.InvalidVersion):
        raise KeyMaterialError("JWK x5c holds something that is not a base64 DER certificate") from None
    except KeyMaterialError as exc:  # a certificate, but one forcegate refuses
        raise KeyMaterialError(f"JWK x5c: {exc.reason}") from None
    if not same_public_key(certificate_public_key(chain[0]), key):
        raise KeyMaterialError("JWK x5c certificate does not hold the JWK's key")
    thumbprint = jwk.get("x5t#S256")
    if thumbprint is not None and thumbprint != x5t_s256(chain[0]):
        raise KeyMaterialError("JWK x5t#S256 does not match its x5c certificate")
    return chain


def _parse(jwk: Mapping[str, Any], *, source: SourceFormat, fallback_alias: str) -> KeyEntry:
    if not isinstance(jwk, Mapping):
        raise KeyMaterialError("a JWK must be a JSON object")
    kty = _optional_str(jwk, "kty")
    if kty is None:
        raise KeyMaterialError("JWK member 'kty' is missing")
    kid, alg, crv = _optional_str(jwk, "kid"), _optional_str(jwk, "alg"), _optional_str(jwk, "crv")
    if kty != "oct" and kty not in _PARSERS:
        raise KeyMaterialError(f"JWK kty {kty!r} is not supported (RSA, EC, OKP, oct)")
    if alg is not None and alg not in _allowed_algs(kty, crv):
        raise KeyMaterialError(f"JWK alg {alg!r} does not fit kty {kty!r}" + (f" and crv {crv!r}" if crv else ""))
    private = "d" in jwk or kty == "oct"
    _check_usage(jwk, private=private)
    if kty == "oct":
        secret = _member(jwk, "k")
        check_key_strength(secret, alg=alg)
        return KeyEntry(
            alias=kid or fallback_alias, kind="secret_key", source_format=source, secret=secret, kid=kid, jwk_alg=alg
        )
    public, private_key = _PARSERS[kty](jwk)
    check_key_strength(public)
    chain = _certificates(jwk, public)
    return KeyEntry(
        alias=kid or rfc7638_thumbprint(public),
        kind="private_key" if private_key is not None else "public_key",
        source_format=source,
        certificate=chain[0] if chain else None,
        chain=chain,
        private_key=private_key,
        public_key=public,
        kid=kid,
        jwk_alg=alg,
    )


def key_from_jwk(jwk: Mapping[str, Any]) -> KeyEntry:
    """One JWK as a :class:`~forcegate.keys.KeyEntry` (alias = ``kid``, else the RFC 7638 thumbprint).

    Public keys give ``public_key`` entries, JWKs with ``d`` give ``private_key`` entries, ``oct``
    keys give ``secret_key`` entries. Raises :class:`~forcegate.errors.WeakKeyError` for keys the
    policy refuses and :class:`~forcegate.errors.KeyMaterialError` for anything malformed or
    inconsistent.
    """
    return _parse(jwk, source="jwk", fallback_alias="hmac-key")


def load_jwks(document: Mapping[str, Any]) -> Keystore:
    """A JWK Set (RFC 7517 §5). Every key must load: nothing is skipped.

    Also refused: a duplicate ``kid`` (a verifier could not tell the keys apart), and a set mixing
    public keys with private or secret ones (Wycheproof "MixedKeySet": such a set is a
    configuration mistake that would publish or trust the wrong thing).
    """
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise KeyMaterialError("a JWKS must be an object with a non-empty 'keys' list")
    kids = Counter(kid for key in keys if isinstance(key, Mapping) and isinstance(kid := key.get("kid"), str))
    duplicates = sorted(str(kid) for kid, count in kids.items() if count > 1)
    if duplicates:
        raise KeyMaterialError(f"JWKS has duplicate kid values: {', '.join(map(repr, duplicates))}")
    entries: list[KeyEntry] = []
    aliases: set[str] = set()
    for index, jwk in enumerate(keys):
        try:
            entry = _parse(jwk, source="jwks", fallback_alias=f"hmac-key-{index}")
        except KeyMaterialError as exc:
            kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
            label = f"#{index}" + (f" (kid {kid!r})" if isinstance(kid, str) else "")
            raise type(exc)(f"JWKS key {label}: {exc.reason}") from None
        if entry.alias in aliases:
            raise KeyMaterialError(f"JWKS key #{index} is the same key as an earlier one")
        aliases.add(entry.alias)
        entries.append(entry)
    if len({entry.kind == "public_key" for entry in entries}) > 1:
        raise KeyMaterialError("JWKS mixes public keys with private or secret keys")
    return Keystore(entries=tuple(entries))


def _public_members(key: PublicKey) -> dict[str, str]:
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": _encode_uint(numbers.n), "e": _encode_uint(numbers.e)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _EC_BY_NAME.get(key.curve.name)
        if crv is None:
            raise KeyMaterialError(f"EC curve {key.curve.name} has no JWK name")
        size = _EC_CURVES[crv][1]
        point = key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(point.x.to_bytes(size, "big")),
            "y": b64url_encode(point.y.to_bytes(size, "big")),
        }
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def _encode_uint(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def rfc7638_thumbprint(key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint: base64url SHA-256 of the required members, sorted, no whitespace."""
    members = _public_members(_require_public(key))
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def _require_public(key: object) -> PublicKey:
    # Guards untyped callers: a private key must never be serialised here by accident.
    public = as_public_key(key)
    if public is None:
        raise KeyMaterialError(f"{type(key).__name__} is not a supported public key")
    return public


def public_jwk(
    key: PublicKey,
    *,
    kid: str | None = None,
    alg: str | None = None,
    certificate: x509.Certificate | None = None,
) -> dict[str, Any]:
    """The public JWK of ``key`` with ``use: sig``, plus ``x5c``/``x5t#S256`` when ``certificate`` is given."""
    members = _public_members(_require_public(key))
    if alg is not None and alg not in _allowed_algs(members["kty"], members.get("crv")):
        raise ConfigurationError(f"alg {alg!r} does not fit a {members['kty']} key")
    jwk: dict[str, Any] = {"kty": members.pop("kty"), "use": "sig"}
    if alg is not None:
        jwk["alg"] = alg
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(members)
    if certificate is not None:
        if not same_public_key(certificate_public_key(certificate), key):
            raise KeyMaterialError("the certificate does not hold this key")
        jwk["x5c"] = [b64_encode(certificate.public_bytes(Encoding.DER))]
        jwk["x5t#S256"] = x5t_s256(certificate)
    return jwk
