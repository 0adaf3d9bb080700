"""Test support: a raw JWS signer written directly on ``cryptography``.

It knows nothing of forcegate's own minting code, so tokens it makes are an independent input to
the verifier.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

#: The public conformance vectors: the copy kept in tests/vectors (its README names each file's
#: source and licence), or wherever FORCEGATE_VECTORS points.
VECTORS = Path(os.environ.get("FORCEGATE_VECTORS") or Path(__file__).resolve().parent / "vectors")

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | bytes


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: Mapping[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64url(raw)


def sign_raw(alg: str, key: SigningKey, signing_input: bytes) -> bytes:
    """Sign ``signing_input`` per RFC 7518 for ``alg``, independently of forcegate."""
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(alg[-3:])
    if alg.startswith("HS"):
        assert isinstance(key, bytes)
        assert digest is not None
        return hmac.new(key, signing_input, getattr(hashlib, digest.name)).digest()
    if alg.startswith(("RS", "PS")):
        assert isinstance(key, rsa.RSAPrivateKey)
        assert digest is not None
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg.startswith("RS")
            else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        )
        return key.sign(signing_input, pad, digest)
    if alg.startswith("ES"):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert digest is not None
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "EdDSA":
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(signing_input)
    raise ValueError(alg)


def make_jws(
    claims: Mapping[str, Any] | bytes,
    key: SigningKey,
    *,
    alg: str = "RS256",
    header: Mapping[str, Any] | bytes | None = None,
) -> str:
    """A compact JWS; ``header`` defaults to Apex's exact ``{"alg":"RS256"}`` shape for ``alg``."""
    head = _segment(header if header is not None else {"alg": alg})
    body = _segment(claims)
    signing_input = f"{head}.{body}".encode()
    return f"{head}.{body}.{b64url(sign_raw(alg, key, signing_input))}"


@dataclass
class Outcome:
    """What one run of the ``forcegate`` command did."""

    code: int
    out: str
    err: str


Runner = Callable[..., Outcome]


def self_signed(
    key: CertificateIssuerPrivateKeyTypes, *, cn: str = "org-cert", days: int = 365, start: dt.datetime | None = None
) -> x509.Certificate:
    """A minimal self-signed certificate for ``key``, built without forcegate's own code."""
    from cryptography.x509.oid import NameOID

    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        # Ed25519/Ed448 sign without a separate hash.
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256())
    )
