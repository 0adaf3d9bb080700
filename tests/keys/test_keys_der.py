from __future__ import annotations

import pytest

from forcegate.keys._der import (
    DerError,
    decode_oid,
    encode_encrypted_private_key_info,
    encode_tlv,
    looks_like_pkcs12,
    parse_encrypted_private_key_info,
    read_tlv,
)

OID = bytes.fromhex("2b060104012a02110101")


def test_encrypted_private_key_info_round_trip() -> None:
    encoded = encode_encrypted_private_key_info(OID, b"\x01" * 300)
    assert encoded[:4] == bytes.fromhex("30820140")  # long-form length: 16 + 4 + 300 = 320 bytes
    assert parse_encrypted_private_key_info(encoded) == (OID, b"\x01" * 300)


def test_absent_parameters_are_accepted() -> None:
    algorithm = encode_tlv(0x30, encode_tlv(0x06, OID))
    encoded = encode_tlv(0x30, algorithm + encode_tlv(0x04, b"abc"))
    assert parse_encrypted_private_key_info(encoded) == (OID, b"abc")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("3080"),  # indefinite length (BER, not DER)
        bytes.fromhex("30810100"),  # non-minimal long form
        bytes.fromhex("3005"),  # runs past the end
        encode_encrypted_private_key_info(OID, b"x") + b"\x00",  # trailing bytes
        encode_tlv(0x30, encode_tlv(0x30, encode_tlv(0x06, OID) + encode_tlv(0x02, b"\x01")) + encode_tlv(0x04, b"")),
    ],
)
def test_strictness(data: bytes) -> None:
    with pytest.raises(DerError):
        parse_encrypted_private_key_info(data)


def test_oid_names() -> None:
    assert decode_oid(OID) == "1.3.6.1.4.1.42.2.17.1.1"
    assert decode_oid(bytes.fromhex("2a864886f70d010701")) == "1.2.840.113549.1.7.1"
    with pytest.raises(DerError):
        decode_oid(b"\x86")


def test_read_tlv_offsets() -> None:
    data = encode_tlv(0x04, b"ab") + encode_tlv(0x05, b"")
    first, offset = read_tlv(data)
    assert (first.tag, first.value, offset) == (0x04, b"ab", 4)
    second, end = read_tlv(data, offset)
    assert (second.tag, second.value, end) == (0x05, b"", 6)


def test_looks_like_pkcs12() -> None:
    content = encode_tlv(0x30, encode_tlv(0x06, bytes.fromhex("2a864886f70d010701")) + encode_tlv(0xA0, b""))
    assert looks_like_pkcs12(encode_tlv(0x30, encode_tlv(0x02, b"\x03") + content))
    assert not looks_like_pkcs12(encode_tlv(0x30, encode_tlv(0x02, b"\x02") + content))
    assert not looks_like_pkcs12(encode_tlv(0x30, encode_tlv(0x30, b"") + content))
    assert not looks_like_pkcs12(b"\x30")
