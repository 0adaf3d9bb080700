from __future__ import annotations

from typing import Literal

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from forcegate.errors import KeyMaterialError, KeystorePasswordError
from forcegate.keys import KeyEntry, read_pkcs12, write_pkcs12
from keys.keys_support import (
    PASSWORD,
    WARNING_FILTERS,
    Chain,
    odd_certificate_der,
    unvetted_certificate,
    warnings_filter,
)


def _leaf_entry(chain: Chain, *, with_chain: bool) -> KeyEntry:
    return KeyEntry(
        alias="Leaf",
        kind="private_key",
        source_format="pem",
        certificate=chain.leaf,
        chain=(chain.leaf, chain.intermediate, chain.root) if with_chain else (),
        private_key=chain.leaf_key,
    )


def test_round_trip_with_chain(chain: Chain) -> None:
    data = write_pkcs12(_leaf_entry(chain, with_chain=True), password=PASSWORD)
    keystore = read_pkcs12(data, password=PASSWORD)
    assert len(keystore.entries) == 1
    entry = keystore.signing_entry()
    assert entry.alias == "Leaf"
    assert entry.source_format == "pkcs12"
    assert entry.chain == (chain.leaf, chain.intermediate, chain.root)
    assert entry.public_key is not None


def test_uses_modern_encryption(chain: Chain) -> None:
    data = write_pkcs12(_leaf_entry(chain, with_chain=False), password=PASSWORD)
    # AES-256-CBC (2.16.840.1.101.3.4.1.42) under PBES2 (1.2.840.113549.1.5.13), not RC2/3DES.
    assert bytes.fromhex("2a864886f70d01050d") in data
    assert bytes.fromhex("60864801650304012a") in data


def test_wrong_or_missing_password(chain: Chain) -> None:
    data = write_pkcs12(_leaf_entry(chain, with_chain=False), password=PASSWORD)
    with pytest.raises(KeystorePasswordError, match="wrong"):
        read_pkcs12(data, password=b"nope")
    with pytest.raises(KeystorePasswordError, match="required"):
        read_pkcs12(data, password=None)


def test_unrelated_certificates_become_certificate_entries(chain: Chain, rsa_entry: KeyEntry) -> None:
    assert rsa_entry.certificate is not None
    other = pkcs12.PKCS12Certificate(rsa_entry.certificate, b"partner")
    data = pkcs12.serialize_key_and_certificates(
        b"leaf", chain.leaf_key, chain.leaf, [chain.intermediate, other], BestAvailableEncryption(PASSWORD)
    )
    keystore = read_pkcs12(data, password=PASSWORD)
    assert [(e.alias, e.kind) for e in keystore.entries] == [("leaf", "private_key"), ("partner", "certificate")]
    assert keystore.get("leaf").chain == (chain.leaf, chain.intermediate)


def test_writer_needs_key_and_certificate(chain: Chain) -> None:
    certificate_only = KeyEntry(alias="c", kind="certificate", source_format="pem", certificate=chain.leaf)
    with pytest.raises(KeyMaterialError, match="private key"):
        write_pkcs12(certificate_only, password=PASSWORD)
    mismatched = KeyEntry(
        alias="m", kind="private_key", source_format="pem", certificate=chain.root, private_key=chain.leaf_key
    )
    with pytest.raises(KeyMaterialError, match="does not match"):
        write_pkcs12(mismatched, password=PASSWORD)


def test_not_pkcs12() -> None:
    with pytest.raises(KeyMaterialError, match="not a PKCS#12"):
        read_pkcs12(b"\x30\x03\x02\x01\x03", password=PASSWORD)


@pytest.mark.parametrize("action", WARNING_FILTERS)
def test_a_certificate_whose_serial_is_not_positive_is_refused(
    ec_entry: KeyEntry, action: Literal["error", "ignore"]
) -> None:
    # cryptography's parser warns inside load_pkcs12; where warnings are errors that is the only sign.
    assert ec_entry.private_key is not None
    negative = unvetted_certificate(odd_certificate_der(ec_entry.private_key, serial=0))
    for certificates in ([negative], [pkcs12.PKCS12Certificate(negative, b"partner")]):
        data = pkcs12.serialize_key_and_certificates(None, None, None, certificates, BestAvailableEncryption(PASSWORD))
        with (
            warnings_filter(action),
            pytest.raises(KeyMaterialError, match="PKCS#12 file: certificate serial number is not positive"),
        ):
            read_pkcs12(data, password=PASSWORD)
