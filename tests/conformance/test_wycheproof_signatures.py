"""Wycheproof signature vectors through forcegate's JWS algorithm registry.

Every vector runs through ``forcegate.core.algorithms`` exactly as the verifier calls it: the
algorithm's key check first (key type, curve, size bound to the ``alg``), then its ``verify``.
Strictness beyond the raw primitive is asserted, not skipped:

* ``acceptable`` vectors (legacy DigestInfo without NULL, wrong signature sizes, weaker hashes on
  a bigger curve) must be REJECTED — a JWS verifier has one correct encoding per signature;
* X.509-style DER ECDSA signatures must all be rejected (JWS uses R || S, RFC 7518 §3.4);
* keys on curves no ES* algorithm uses (secp256k1) must be refused by the key check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from forcegate.core.algorithms import get_algorithm
from forcegate.core.trusted_key import TrustedKey
from helpers import VECTORS

SHA_BITS = {"SHA-256": "256", "SHA-384": "384", "SHA-512": "512"}
CURVE_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


def cases(name: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for group in load(name)["testGroups"]:
        for test in group["tests"]:
            yield group, test


def accepted(alg: str, key_der_hex: str, msg_hex: str, sig_hex: str) -> bool:
    """The verdict forcegate's verifier would reach for this (key, message, signature)."""
    algorithm = get_algorithm(alg)
    try:
        public_key = load_der_public_key(bytes.fromhex(key_der_hex))
    except ValueError:
        return False  # a key that does not even parse is never trusted
    if not isinstance(public_key, RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey):
        return False
    key = TrustedKey(public_key)
    if alg not in key.usable_with:
        return False
    return algorithm.verify(key.key, bytes.fromhex(msg_hex), bytes.fromhex(sig_hex))


RSA_FILES = [
    "rsa_signature_2048_sha256_test.json",
    "rsa_signature_3072_sha256_test.json",
    "rsa_signature_4096_sha256_test.json",
    "rsa_signature_2048_sha384_test.json",
    "rsa_signature_2048_sha512_test.json",
]


@pytest.mark.parametrize("filename", RSA_FILES)
def test_rsassa_pkcs1_v1_5(filename: str) -> None:
    checked = 0
    for group, test in cases(filename):
        alg = "RS" + SHA_BITS[group["sha"]]
        expected = test["result"] == "valid"  # "acceptable" (MissingNull) must be rejected
        verdict = accepted(alg, group["publicKeyDer"], test["msg"], test["sig"])
        assert verdict is expected, f"{filename} tcId {test['tcId']} {test['comment']} {test['flags']}"
        checked += 1
    assert checked == load(filename)["numberOfTests"]


def test_rsassa_pss_ps256() -> None:
    filename = "rsa_pss_2048_sha256_mgf1_32_test.json"
    for group, test in cases(filename):
        assert group["sLen"] == 32
        assert group["mgfSha"] == "SHA-256"
        verdict = accepted("PS256", group["publicKeyDer"], test["msg"], test["sig"])
        assert verdict is (test["result"] == "valid"), f"tcId {test['tcId']} {test['comment']}"


@pytest.mark.parametrize(
    "filename",
    [
        "ecdsa_secp256r1_sha256_p1363_test.json",
        "ecdsa_secp384r1_sha384_p1363_test.json",
        "ecdsa_secp521r1_sha512_p1363_test.json",
    ],
)
def test_ecdsa_p1363(filename: str) -> None:
    for group, test in cases(filename):
        alg = CURVE_ALG[group["publicKey"]["curve"]]
        verdict = accepted(alg, group["publicKeyDer"], test["msg"], test["sig"])
        assert verdict is (test["result"] == "valid"), f"{filename} tcId {test['tcId']} {test['comment']}"


def test_ecdsa_der_signatures_are_never_accepted_by_es256() -> None:
    verdicts = [
        accepted("ES256", group["publicKeyDer"], test["msg"], test["sig"])
        for group, test in cases("ecdsa_secp256r1_sha256_test.json")
    ]
    assert len(verdicts) == 484
    assert not any(verdicts)


def test_ecdsa_webcrypto_v0() -> None:
    refused_curves: set[str] = set()
    for group, test in cases("ecdsa_webcrypto_test.v0.json"):
        curve = group["key"]["curve"]
        alg = "ES" + SHA_BITS[group["sha"]]
        verdict = accepted(alg, group["keyDer"], test["msg"], test["sig"])
        # SigSize and WeakHash ("acceptable") are rejected; so is every secp256k1 key.
        expected = test["result"] == "valid" and CURVE_ALG.get(curve) == alg
        if curve not in CURVE_ALG:
            refused_curves.add(curve)
        assert verdict is expected, f"tcId {test['tcId']} {curve} {group['sha']} {test['comment']} {test['flags']}"
    assert refused_curves == {"secp256k1"}


def test_ed25519() -> None:
    algorithm = get_algorithm("EdDSA")
    for group, test in cases("ed25519_test.json"):
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(group["publicKey"]["pk"]))
        verdict = algorithm.verify(key, bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
        assert verdict is (test["result"] == "valid"), f"tcId {test['tcId']} {test['comment']}"
