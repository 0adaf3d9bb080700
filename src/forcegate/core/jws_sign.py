"""Compact JWS signing (RFC 7515 §7.1): the one place forcegate signs a JWS it sends.

Two callers need it and must not drift apart: the outbound JWT bearer login to Salesforce
(:mod:`forcegate.salesforce.login`) and the Apex ``Auth.JWS`` emulation (:mod:`forcegate.devtools`).
The header is compact JSON with ``alg`` first and then the caller's extra members; header and
payload are base64url without padding, exactly as a strict verifier (:mod:`forcegate.core.jws`)
re-reads them. The payload is signed as given: the caller decides its bytes (Apex's claim order,
a test's malformed claims set).

RSA (``RS*``, ``PS*``) and ECDSA (``ES*``) keys only, each bound to its algorithm as
:mod:`forcegate.core.algorithms` binds them for verification, and RSA keys below
:data:`~forcegate.core.algorithms.MIN_RSA_BITS` are refused: forcegate's own verifiers would refuse
what they sign. The service's access tokens keep their own pre-encoded ES256 path
(:mod:`forcegate.core.access_token`), as they are signed on every token request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from forcegate.core._b64 import b64url_encode
from forcegate.core.algorithms import MIN_RSA_BITS
from forcegate.errors import ConfigurationError

__all__ = ["SIGNING_ALGORITHMS", "SigningKey", "encode_header", "sign", "sign_compact"]

SigningKey: TypeAlias = RSAPrivateKey | ec.EllipticCurvePrivateKey

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
# RFC 7518 §3.4 binds each ES* to one curve.
_CURVES: dict[str, type[ec.EllipticCurve]] = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}

#: Every ``alg`` :func:`sign` implements.
SIGNING_ALGORITHMS: frozenset[str] = frozenset(
    {f"{family}{bits}" for family in ("RS", "PS") for bits in _HASHES} | set(_CURVES)
)


def sign(alg: str, key: SigningKey, signing_input: bytes) -> bytes:
    """The JWS signature of ``signing_input`` under ``alg`` (RFC 7518 §3.3 to §3.5).

    Raises :class:`~forcegate.errors.ConfigurationError` for an algorithm not in
    :data:`SIGNING_ALGORITHMS` or a key that does not fit it.
    """
    if alg not in SIGNING_ALGORITHMS:
        raise ConfigurationError(f"cannot sign with alg {alg!r}; supported: {', '.join(sorted(SIGNING_ALGORITHMS))}")
    digest = _HASHES[alg[2:]]()
    if alg.startswith(("RS", "PS")):
        if not isinstance(key, RSAPrivateKey):
            raise ConfigurationError(f"{alg} needs an RSA private key, not {type(key).__name__}")
        if key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"RSA key of {key.key_size} bits is below the {MIN_RSA_BITS}-bit minimum")
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg.startswith("RS")
            # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
            else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        )
        return key.sign(signing_input, pad, digest)
    curve = _CURVES[alg]
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, curve):
        raise ConfigurationError(f"{alg} needs an EC private key on {curve.name}")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
    # RFC 7518 §3.4: R || S, each as long as the curve's order, not the DER that OpenSSL returns.
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def encode_header(alg: str, extra: Mapping[str, object] | None = None) -> str:
    """The base64url header segment: compact JSON ``{"alg": alg, ...extra}``, ``alg`` first.

    ``extra`` may not set ``alg`` (the signature's algorithm is the ``alg`` argument alone) and must
    be JSON-serialisable; otherwise :class:`~forcegate.errors.ConfigurationError`.
    """
    header: dict[str, object] = {"alg": alg}
    if extra:
        if "alg" in extra:
            raise ConfigurationError("the header's alg is the alg argument; extra header members may not set it")
        header.update(extra)
    try:
        return b64url_encode(orjson.dumps(header))
    except orjson.JSONEncodeError as exc:
        raise ConfigurationError(f"the JWS header is not JSON-serialisable: {exc}") from None


def sign_compact(
    payload: bytes, key: SigningKey, *, alg: str = "RS256", header: Mapping[str, object] | None = None
) -> str:
    """``base64url(header).base64url(payload).base64url(signature)`` for ``payload`` as given.

    ``header`` holds extra header members (``kid``, ``typ`` …) written after ``alg``. Raises
    :class:`~forcegate.errors.ConfigurationError` as :func:`sign` and :func:`encode_header` do.
    """
    signing_input = f"{encode_header(alg, header)}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(sign(alg, key, signing_input.encode('ascii')))}"
