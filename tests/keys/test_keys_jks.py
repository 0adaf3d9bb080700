from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from forcegate.errors import KeyMaterialError, KeystorePasswordError
from forcegate.keys import KeyEntry, read_jks, write_jks
from forcegate.keys._jks import decode_modified_utf8, encode_modified_utf8
from keys.keys_support import WARNING_FILTERS, odd_certificate_der, unvetted_certificate, warnings_filter

PASSWORD = b"changeit"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _pkcs8(entry: KeyEntry) -> bytes:
    assert entry.private_key is not None
    return entry.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def _certificate_entry(alias: str, certificate: x509.Certificate | None) -> KeyEntry:
    return KeyEntry(alias=alias, kind="certificate", source_format="pem", certificate=certificate)


def test_round_trip(rsa_entry: KeyEntry, ec_entry: KeyEntry, second_rsa_entry: KeyEntry) -> None:
    trusted = _certificate_entry("partner", second_rsa_entry.certificate)
    data = write_jks([rsa_entry, ec_entry, trusted], password=PASSWORD, now=NOW)
    keystore = read_jks(data, password=PASSWORD)
    assert keystore.aliases == ("forcegate_test", "ec_p256", "partner")
    signer = keystore.get("forcegate_test")
    assert signer.kind == "private_key"
    assert signer.source_format == "jks"
    assert signer.certificate == rsa_entry.certificate
    assert _pkcs8(signer) == _pkcs8(rsa_entry)
    assert _pkcs8(keystore.get("ec_p256")) == _pkcs8(ec_entry)
    partner = keystore.get("partner")
    assert partner.kind == "certificate"
    assert partner.private_key is None
    assert partner.certificate == second_rsa_entry.certificate


def test_layout_header_and_integrity_digest(rsa_entry: KeyEntry) -> None:
    data = write_jks([rsa_entry], password=PASSWORD, now=NOW)
    assert struct.unpack(">III", data[:12]) == (0xFEEDFEED, 2, 1)
    assert struct.unpack(">I", data[12:16]) == (1,)  # PrivateKeyEntry tag
    expected = hashlib.sha1("changeit".encode("utf-16-be") + b"Mighty Aphrodite" + data[:-20]).digest()  # noqa: S324
    assert data[-20:] == expected


def test_key_is_protected_not_stored_in_clear(rsa_entry: KeyEntry) -> None:
    data = write_jks([rsa_entry], password=PASSWORD, now=NOW)
    assert _pkcs8(rsa_entry)[-64:] not in data


def test_wrong_password(rsa_entry: KeyEntry) -> None:
    data = write_jks([rsa_entry], password=PASSWORD, now=NOW)
    with pytest.raises(KeystorePasswordError, match="password is wrong"):
        read_jks(data, password=b"Changeit")


def test_non_ascii_password_round_trip(rsa_entry: KeyEntry) -> None:
    password = "pässwörd-𝄞".encode()
    data = write_jks([rsa_entry], password=password, now=NOW)
    assert read_jks(data, password=password).get("forcegate_test").certificate == rsa_entry.certificate
    with pytest.raises(KeystorePasswordError):
        read_jks(data, password=b"passwoerd")


@pytest.mark.parametrize("position", [20, 200, 1000, -25, -1])
def test_corrupted_byte_is_detected(rsa_entry: KeyEntry, position: int) -> None:
    data = bytearray(write_jks([rsa_entry], password=PASSWORD, now=NOW))
    data[position] ^= 0x01
    with pytest.raises(KeyMaterialError):
        read_jks(bytes(data), password=PASSWORD)


def test_without_password_only_certificates(rsa_entry: KeyEntry, second_rsa_entry: KeyEntry) -> None:
    truststore = write_jks([_certificate_entry("partner", second_rsa_entry.certificate)], password=PASSWORD)
    entries = read_jks(truststore, password=None).entries
    assert [(e.alias, e.kind) for e in entries] == [("partner", "certificate")]
    with_key = write_jks([rsa_entry], password=PASSWORD)
    with pytest.raises(KeystorePasswordError, match="password is required"):
        read_jks(with_key, password=None)


def test_aliases_are_lower_cased_like_java(rsa_entry: KeyEntry) -> None:
    entry = KeyEntry(
        alias="MyCert",
        kind="private_key",
        source_format="pem",
        certificate=rsa_entry.certificate,
        private_key=rsa_entry.private_key,
    )
    keystore = read_jks(write_jks([entry], password=PASSWORD), password=PASSWORD)
    assert keystore.aliases == ("mycert",)
    assert keystore.get("MyCert").alias == "mycert"


def test_duplicate_aliases_are_refused(rsa_entry: KeyEntry, ec_entry: KeyEntry) -> None:
    clash = KeyEntry(alias="FORCEGATE_test", kind="certificate", source_format="pem", certificate=ec_entry.certificate)
    with pytest.raises(KeyMaterialError, match="unique"):
        write_jks([rsa_entry, clash], password=PASSWORD)


def test_mismatched_key_and_certificate_are_refused(rsa_entry: KeyEntry, ec_entry: KeyEntry) -> None:
    wrong = KeyEntry(
        alias="wrong",
        kind="private_key",
        source_format="pem",
        certificate=rsa_entry.certificate,
        private_key=ec_entry.private_key,
    )
    with pytest.raises(KeyMaterialError, match="does not match"):
        write_jks([wrong], password=PASSWORD)


def test_entries_jks_cannot_hold_are_refused() -> None:
    public = KeyEntry(
        alias="bare",
        kind="public_key",
        source_format="pem",
        public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
    )
    with pytest.raises(KeyMaterialError, match="JKS cannot hold"):
        write_jks([public], password=PASSWORD)
    key_only = KeyEntry(
        alias="k", kind="private_key", source_format="pem", private_key=ec.generate_private_key(ec.SECP256R1())
    )
    with pytest.raises(KeyMaterialError, match="certificate"):
        write_jks([key_only], password=PASSWORD)


def test_jceks_is_refused_clearly() -> None:
    with pytest.raises(KeyMaterialError, match="JCEKS"):
        read_jks(bytes.fromhex("cececece00000002") + bytes(40), password=PASSWORD)


def test_other_data_is_not_jks() -> None:
    with pytest.raises(KeyMaterialError, match="not a JKS"):
        read_jks(b"PK\x03\x04" + bytes(40), password=PASSWORD)


def test_version_1_keystore_is_read(second_rsa_entry: KeyEntry) -> None:
    # Version 1 has no certificate-type strings; build one by hand.
    assert second_rsa_entry.certificate is not None
    der = second_rsa_entry.certificate.public_bytes(Encoding.DER)
    body = struct.pack(">III", 0xFEEDFEED, 1, 1) + struct.pack(">I", 2) + encode_modified_utf8("old")
    body += struct.pack(">Q", 0) + struct.pack(">I", len(der)) + der
    data = body + hashlib.sha1("changeit".encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()  # noqa: S324
    keystore = read_jks(data, password=PASSWORD)
    assert keystore.get("old").certificate == second_rsa_entry.certificate


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("abc", b"\x00\x03abc"),
        ("\x00", b"\x00\x02\xc0\x80"),  # Java writes U+0000 as two bytes
        ("é", b"\x00\x02\xc3\xa9"),
        ("€", b"\x00\x03\xe2\x82\xac"),
        ("𝄞", b"\x00\x06\xed\xa0\xb4\xed\xb4\x9e"),  # a surrogate pair, each half as 3 bytes (CESU-8)
    ],
)
def test_modified_utf8(text: str, encoded: bytes) -> None:
    assert encode_modified_utf8(text) == encoded
    assert decode_modified_utf8(encoded[2:]) == text


@pytest.mark.parametrize("raw", [b"\x00", b"\xc3", b"\xff", b"\xed\xa0\xb4"])
def test_invalid_modified_utf8_is_refused(raw: bytes) -> None:
    with pytest.raises(KeyMaterialError):
        decode_modified_utf8(raw)


@given(st.text(max_size=40))
def test_modified_utf8_round_trips(text: str) -> None:
    assert decode_modified_utf8(encode_modified_utf8(text)[2:]) == text


@pytest.fixture(scope="module")
def sample_jks(rsa_entry: KeyEntry, second_rsa_entry: KeyEntry) -> bytes:
    trusted = _certificate_entry("partner", second_rsa_entry.certificate)
    return write_jks([rsa_entry, trusted], password=PASSWORD, now=NOW)


def _mutations() -> st.SearchStrategy[Callable[[bytes], bytes]]:
    def flip(index: int, mask: int) -> Callable[[bytes], bytes]:
        return lambda data: (
            data[: index % len(data)] + bytes([data[index % len(data)] ^ mask]) + data[index % len(data) + 1 :]
        )

    def cut(length: int) -> Callable[[bytes], bytes]:
        return lambda data: data[: length % len(data)]

    return st.one_of(
        st.builds(flip, st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
        st.builds(cut, st.integers(min_value=0)),
    )


@settings(max_examples=150, deadline=None)
@given(mutation=_mutations())
def test_damaged_keystores_are_refused(sample_jks: bytes, mutation: Callable[[bytes], bytes]) -> None:
    with pytest.raises(KeyMaterialError):
        read_jks(mutation(sample_jks), password=PASSWORD)


@settings(max_examples=150, deadline=None)
@given(mutation=_mutations())
def test_damaged_keystores_without_password_raise_only_key_material_errors(
    sample_jks: bytes, mutation: Callable[[bytes], bytes]
) -> None:
    # Without a password nothing authenticates the bytes, so a flip inside a certificate's
    # signature may go unnoticed; what must never happen is any other kind of exception.
    try:
        keystore = read_jks(mutation(sample_jks), password=None)
    except KeyMaterialError:
        return
    assert all(entry.private_key is None for entry in keystore.entries)


@pytest.mark.parametrize("action", WARNING_FILTERS)
def test_a_certificate_forcegate_refuses_is_named_by_its_entry(
    ec_entry: KeyEntry, action: Literal["error", "ignore"]
) -> None:
    assert ec_entry.private_key is not None
    negative = unvetted_certificate(odd_certificate_der(ec_entry.private_key, serial=-1))
    unreadable = unvetted_certificate(odd_certificate_der(ec_entry.private_key, subject_cn=b"\x03\x07\x00subjec"))
    for certificate, message in [
        (negative, "JKS entry 'partner': certificate serial number is not positive"),
        (unreadable, "JKS entry 'partner': certificate subject name has a BIT STRING attribute"),
    ]:
        truststore = write_jks([_certificate_entry("partner", certificate)], password=PASSWORD)
        with warnings_filter(action), pytest.raises(KeyMaterialError, match=message):
            read_jks(truststore, password=None)
