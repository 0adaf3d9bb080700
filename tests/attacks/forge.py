"""The attacker's workbench: tokens built byte by byte on ``cryptography`` (tests/helpers.py), not by forcegate.

A :class:`Forge` knows the two orgs of the scene (A trusts ``key_a``'s certificate and the consumer
key ``app_x``; B trusts ``key_b``'s), the audience the service accepts, the time, and the attacker's
own key and certificate. The same attacks are built by the library tests (fixed time, fake directory)
and by the HTTP tests (the live server's clock and URL), so every case runs against both.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from helpers import SigningKey, b64url, make_jws, sign_raw
from server.live import USERNAME

APP_Y = "3MVG9_attack_app_y"
SECRET_Y = "app-y-consumer-secret-0001"


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: As the value of a claim in :meth:`Forge.claims`: leave the claim out.
DROP: Any = _Drop()


@dataclass(frozen=True)
class Forge:
    audience: str
    now: int
    org_a: str
    org_b: str
    app_x: str
    secret_x: str
    key_a: rsa.RSAPrivateKey
    key_b: rsa.RSAPrivateKey
    attacker: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    cert_a: x509.Certificate
    attacker_cert: x509.Certificate
    #: An http URL on a listening loopback socket: fetching a header's jku / x5u would connect there.
    canary: str
    #: A file that a shell run on a kid would create.
    marker: Path

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A valid assertion's claims for org A (with a unique ``jti``); ``DROP`` removes a claim."""
        claims: dict[str, Any] = {
            "iss": self.org_a,
            "sub": USERNAME,
            "aud": self.audience,
            "exp": self.now + 120,
            "nbf": self.now - 5,
            "jti": secrets.token_hex(8),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not DROP}

    def token(
        self,
        claims: Mapping[str, Any] | bytes | None = None,
        *,
        header: Mapping[str, Any] | bytes | None = None,
        key: SigningKey | None = None,
        alg: str = "RS256",
    ) -> str:
        """A compact JWS of ``claims`` (default: :meth:`claims`), signed by ``key`` (default: org A's) with ``alg``."""
        return make_jws(
            self.claims() if claims is None else claims,
            self.key_a if key is None else key,
            alg=alg,
            header=header,
        )

    def raw(self, header: bytes, claims: bytes, *, key: SigningKey | None = None, alg: str = "RS256") -> str:
        """A compact JWS of exactly these header and claims bytes (duplicates, deep nesting …)."""
        signing_input = f"{b64url(header)}.{b64url(claims)}"
        signature = sign_raw(alg, self.key_a if key is None else key, signing_input.encode())
        return f"{signing_input}.{b64url(signature)}"

    def claims_json(self, **changes: Any) -> bytes:
        return compact(self.claims(**changes))


def compact(value: Any) -> bytes:
    """``value`` as compact JSON, the way Apex and most JOSE libraries write it."""
    return json.dumps(value, separators=(",", ":")).encode()


#: How an attack is built from the scene.
Build = Callable[["Forge"], str]


@dataclass(frozen=True)
class Attack:
    """One forged credential and the code of the check that must refuse it."""

    name: str
    build: Build
    code: str


def params(attacks: list[Attack]) -> list[Any]:
    """``attacks`` as pytest parameters named after each attack."""
    return [pytest.param(attack, id=attack.name) for attack in attacks]


def one_per_code(attacks: list[Attack]) -> list[Attack]:
    """The first attack refused with each code.

    For the API, which takes an assertion as its bearer credential through the very verifier the
    token endpoint uses (``AuthenticationService.authenticate_bearer``): what differs there is the
    edge (401 ``invalid_token``, the batched audit), which one attack per code exercises.
    """
    first: dict[str, Attack] = {}
    for attack in attacks:
        first.setdefault(attack.code, attack)
    return list(first.values())


def public_key_encodings(key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> dict[str, bytes]:
    """Every way a verifier might hold org A's public key as bytes: each an HMAC secret to try."""
    public = key.public_key()
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    numbers = public.public_numbers()

    def uint(value: int) -> str:
        return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    jwk = {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
    spki_pem = public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo)
    return {
        "spki-pem": spki_pem,
        "spki-pem-stripped": spki_pem.strip(),
        "pkcs1-pem": public.public_bytes(enc.PEM, fmt.PKCS1),
        "spki-der": public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "pkcs1-der": public.public_bytes(enc.DER, fmt.PKCS1),
        "cert-pem": certificate.public_bytes(enc.PEM),
        "cert-der": certificate.public_bytes(enc.DER),
        "cert-der-base64": base64.b64encode(certificate.public_bytes(enc.DER)),
        "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "jwk-json": compact(jwk),
        "jwk-json-spaced": json.dumps(jwk).encode(),
        "jwk-n": jwk["n"].encode(),
        "n-bytes": numbers.n.to_bytes(256, "big"),
    }


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }


def der_b64(certificate: x509.Certificate) -> str:
    """A certificate as an ``x5c`` entry: standard base64 of its DER (RFC 7515 §4.1.6)."""
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def x5t_s256(certificate: x509.Certificate) -> str:
    return b64url(certificate.fingerprint(hashes.SHA256()))
