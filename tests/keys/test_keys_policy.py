from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from forcegate.errors import WeakKeyError
from forcegate.keys import KeyEntry, check_key_strength, is_roca_vulnerable
from forcegate.keys.policy import _ROCA_MARKERS, check_rsa_numbers

# Published ROCA detector markers (crocs-muni/roca) for the first primes; ours are computed.
PUBLISHED_MARKERS = {3: 6, 5: 30, 7: 126, 11: 1026, 13: 5658, 17: 107286, 19: 199410, 23: 8388606, 167: (
    187072209578355573530071658587684226515959365500926
)}  # fmt: skip


def test_roca_markers_match_the_published_ones() -> None:
    markers = dict(_ROCA_MARKERS)
    assert len(markers) == 38
    for prime, mask in PUBLISHED_MARKERS.items():
        assert markers[prime] == mask


def test_roca_detects_a_constructed_modulus() -> None:
    # A modulus that is a power of 65537 modulo every marker prime has the fingerprint.
    primorial = 1
    for prime, _ in _ROCA_MARKERS:
        primorial *= prime
    fingerprinted = pow(65537, 12345, primorial)
    assert is_roca_vulnerable(fingerprinted)
    assert not is_roca_vulnerable(fingerprinted * 3)  # 0 mod 3 lies outside the subgroup <65537 mod 3>


def test_normal_keys_are_not_roca(rsa_entry: KeyEntry) -> None:
    assert rsa_entry.public_key is not None
    check_key_strength(rsa_entry.public_key)
    assert rsa_entry.private_key is not None
    check_key_strength(rsa_entry.private_key)


@pytest.mark.parametrize(
    ("n", "e", "match"),
    [
        ((1 << 1023) + 1, 65537, "1024 bits"),
        ((1 << 2047) + 1, 1, "exponent 1"),
        ((1 << 2047) + 1, 65536, "exponent 65536"),
        ((1 << 2047) + 1, 1 << 300 | 1, "of 301 bits is not 65537"),
        ((1 << 2047) + 1, 3, "exponent 3 is not 65537"),
        ((1 << 2047) + 1, 17, "exponent 17 is not 65537"),
        (1 << 2047, 65537, "even"),
        ((1 << 16384) + 1, 65537, "maximum"),
    ],
    ids=["1024-bit", "e=1", "even-e", "huge-e", "e=3", "e=17", "even-n", "too-large"],
)
def test_rsa_numbers(n: int, e: int, match: str) -> None:
    with pytest.raises(WeakKeyError, match=match):
        check_rsa_numbers(n, e)


def test_the_usual_exponent_is_allowed() -> None:
    check_rsa_numbers((1 << 2047) + 1 + 2 * 3 * 5 * 7, 65537)


def test_exponent_three_key_object_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    with pytest.raises(WeakKeyError, match="exponent 3 is not 65537"):
        check_key_strength(key.public_key())


def test_small_rsa_key_object_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    with pytest.raises(WeakKeyError, match="1024"):
        check_key_strength(key.public_key())


def test_curves() -> None:
    for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()):
        check_key_strength(ec.generate_private_key(curve).public_key())
    with pytest.raises(WeakKeyError, match="secp256k1"):
        check_key_strength(ec.generate_private_key(ec.SECP256K1()).public_key())
    check_key_strength(ed25519.Ed25519PrivateKey.generate().public_key())


def test_hmac_lengths() -> None:
    check_key_strength(bytes(32))
    check_key_strength(bytes(64), alg="HS512")
    with pytest.raises(WeakKeyError, match="31 bytes"):
        check_key_strength(bytes(31))
    with pytest.raises(WeakKeyError, match="HS512"):
        check_key_strength(bytes(63), alg="HS512")


def test_untyped_callers_get_an_error_for_other_key_types() -> None:
    from cryptography.hazmat.primitives.asymmetric import x25519

    key: Any = x25519.X25519PrivateKey.generate().public_key()  # Any: the runtime guard is what is tested
    with pytest.raises(WeakKeyError, match="not allowed"):
        check_key_strength(key)
