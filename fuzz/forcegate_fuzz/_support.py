"""What every target shares: the invariant's vocabulary, input splitting, fixed keys and a signer.

Everything here is deterministic — fixed keys, certificates built with deterministic signatures,
a fixed clock — so that a finding saved as one file reproduces from that file alone, in any
process, on any day.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from forcegate.errors import ForcegateError
from forcegate_fuzz.known import open_finding

__all__ = [
    "NOW",
    "Finding",
    "OrgKeys",
    "check",
    "org_keys",
    "refused",
    "run_sync",
    "sections",
    "sign_es256",
    "sign_jws",
]

_T = TypeVar("_T")

NOW = 1_750_000_000
"""The fixed clock of every target (2025-06-15): seeds minted for it stay valid forever."""

FUZZ_DIR = Path(__file__).resolve().parents[1]
_RSA_KEY_FILE = FUZZ_DIR / "keys" / "fuzz-only-rsa-2048.pem"


class Finding(AssertionError):
    """An invariant other than "a result or a ForcegateError" broke (a view raised, a round trip
    changed a value, two parsers that must agree disagreed)."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`Finding` unless ``condition``; not ``assert``, which ``python -O`` drops."""
    if not condition:
        raise Finding(message)


def refused(call: Callable[[], _T]) -> _T | None:
    """``call()``, or ``None`` when forcegate refused the input with a ForcegateError.

    Any other exception propagates: it is what the fuzzer is looking for, unless it is a finding
    already reported and still open (:mod:`forcegate_fuzz.known`), which is let through as a
    refusal so that fuzzing goes on past it instead of stopping at it on every run.
    """
    try:
        return call()
    except ForcegateError:
        return None
    except Exception as exc:
        if open_finding(exc) is None:
            raise
        return None


def run_sync(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that never suspends, without an event loop.

    The verifiers are async for their stores; the targets give them in-memory ones that answer at
    once, so one ``send`` runs the whole coroutine. ``asyncio.run`` would build and tear down a
    loop per input, which costs more than most of the parsing being fuzzed.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: _T = done.value
        return result
    coroutine.close()
    raise Finding("the coroutine suspended, but nothing it awaits here ever waits")


def sections(data: bytes, count: int) -> list[bytes]:
    """``data`` cut at its first ``count - 1`` NUL bytes into exactly ``count`` parts (missing ones empty).

    NUL separates a target's several inputs (header, claims, scope …): no JSON, base64 or form
    text forcegate accepts contains a raw NUL, so the cut never hides an interesting input.
    """
    parts = data.split(b"\x00", count - 1)
    return parts + [b""] * (count - len(parts))


# --- keys ------------------------------------------------------------------------------------------


class OrgKeys:
    """The org's signing keys (RSA 2048 as Certificate and Key Management makes, P-256, Ed25519)
    and their certificates, valid from 2025-01-01 for ten years."""

    def __init__(self) -> None:
        loaded = serialization.load_pem_private_key(_RSA_KEY_FILE.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise TypeError(f"{_RSA_KEY_FILE} does not hold an RSA key")
        self.rsa = loaded
        # Fixed scalars and seeds: generating keys would make every process's keys different.
        self.ec = ec.derive_private_key(0x1F2E3D4C5B6A79881F2E3D4C5B6A79881F2E3D4C5B6A7988, ec.SECP256R1())
        self.ed25519 = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        # The service's access-token key (ES256 on P-256), distinct from the org's keys.
        self.service = ec.derive_private_key(0x5EED5EED5EED5EED5EED5EED5EED5EED, ec.SECP256R1())
        # PKCS#1 v1.5 and Ed25519 signatures are deterministic; ECDSA's are not, so the RSA key
        # issues the P-256 key's certificate, keeping its DER (and x5t#S256) the same everywhere.
        rsa_cn, ed_cn = "forcegate_cert", "forcegate_ed_cert"
        self.rsa_certificate = _certificate(rsa_cn, self.rsa.public_key(), self.rsa, rsa_cn, 1001)
        self.ec_certificate = _certificate("forcegate_ec_cert", self.ec.public_key(), self.rsa, rsa_cn, 1002)
        self.ed25519_certificate = _certificate(ed_cn, self.ed25519.public_key(), self.ed25519, ed_cn, 1003)


def _certificate(
    cn: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    issuer_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    issuer_cn: str,
    serial: int,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2035, 1, 1, tzinfo=dt.UTC))
    )
    digest = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, digest)


@functools.cache
def org_keys() -> OrgKeys:
    """The keys, built once per process (the certificates cost a few RSA signatures)."""
    return OrgKeys()


# --- an independent JWS signer -----------------------------------------------------------------------
# Written on cryptography directly rather than with forcegate.core.jws_sign: the targets must not
# depend on the code under test to build their inputs, and jws_sign does not sign EdDSA.


def sign_es256(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    """An ES256 JWS signature: R || S, 32 bytes each (RFC 7518 §3.4), not OpenSSL's DER."""
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


_DIGESTS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def sign_jws(alg: str, signing_input: bytes) -> bytes:
    """The JWS signature of ``signing_input`` with the org key that fits ``alg``.

    An ``alg`` no key can make (``ES384``, ``HS256``, ``none``, garbage) is signed RS256, so the
    token still carries a real signature for the verifier to refuse.
    """
    keys = org_keys()
    if alg == "EdDSA":
        return keys.ed25519.sign(signing_input)
    if alg == "ES256":
        return sign_es256(keys.ec, signing_input)
    family, bits = alg[:2], alg[2:]
    if family not in ("RS", "PS") or bits not in _DIGESTS:
        family, bits = "RS", "256"
    digest = _DIGESTS[bits]()
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15() if family == "RS" else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    )
    return keys.rsa.sign(signing_input, pad, digest)
