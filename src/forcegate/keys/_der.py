"""Just enough strict DER for JKS's ``EncryptedPrivateKeyInfo`` and for recognising PKCS#12.

Only definite, minimally encoded lengths and single-byte tags are accepted (X.690 §10.1); that is
all the structures read here use, and anything else is a different (or malicious) encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DerError",
    "Tlv",
    "decode_oid",
    "encode_encrypted_private_key_info",
    "encode_tlv",
    "looks_like_pkcs12",
    "parse_encrypted_private_key_info",
    "read_single",
    "read_tlv",
    "read_tlvs",
]

SEQUENCE = 0x30
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
INTEGER = 0x02

OID_PKCS7_DATA = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1
OID_PKCS7_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2


class DerError(ValueError):
    """The bytes are not the DER structure expected."""


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def encode_tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(value)) + value


def read_tlv(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """One TLV at ``offset``; returns it and the offset just after it."""
    if offset + 2 > len(data):
        raise DerError("truncated DER")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte DER tags are not expected here")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DerError("indefinite or oversized DER length")
        if pos + count > len(data):
            raise DerError("truncated DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise DerError("non-minimal DER length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("DER value runs past the end of the data")
    return Tlv(tag, data[pos:end]), end


def read_tlvs(data: bytes) -> list[Tlv]:
    """All TLVs of a constructed value's contents, which must be used up exactly."""
    items: list[Tlv] = []
    offset = 0
    while offset < len(data):
        item, offset = read_tlv(data, offset)
        items.append(item)
    return items


def read_single(data: bytes, tag: int) -> Tlv:
    """``data`` must be exactly one TLV with ``tag``."""
    item, end = read_tlv(data)
    if end != len(data):
        raise DerError("trailing bytes after DER value")
    if item.tag != tag:
        raise DerError(f"expected DER tag 0x{tag:02x}, found 0x{item.tag:02x}")
    return item


def decode_oid(value: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's contents (for messages)."""
    if not value or value[-1] & 0x80:
        raise DerError("malformed OBJECT IDENTIFIER")
    arcs: list[int] = []
    current = 0
    for byte in value:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(current)
            current = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def encode_encrypted_private_key_info(algorithm_oid: bytes, encrypted: bytes) -> bytes:
    """``EncryptedPrivateKeyInfo`` (RFC 5208 §6) with NULL algorithm parameters, as Java writes it."""
    algorithm = encode_tlv(SEQUENCE, encode_tlv(OID, algorithm_oid) + encode_tlv(NULL, b""))
    return encode_tlv(SEQUENCE, algorithm + encode_tlv(OCTET_STRING, encrypted))


def parse_encrypted_private_key_info(data: bytes) -> tuple[bytes, bytes]:
    """The algorithm OID contents and the encrypted bytes; parameters must be NULL or absent."""
    outer = read_tlvs(read_single(data, SEQUENCE).value)
    if len(outer) != 2 or outer[0].tag != SEQUENCE or outer[1].tag != OCTET_STRING:
        raise DerError("not an EncryptedPrivateKeyInfo")
    algorithm = read_tlvs(outer[0].value)
    if not algorithm or algorithm[0].tag != OID:
        raise DerError("AlgorithmIdentifier without an OID")
    parameters = algorithm[1:]
    if parameters and (len(parameters) != 1 or parameters[0] != Tlv(NULL, b"")):
        raise DerError("unexpected key protection algorithm parameters")
    return algorithm[0].value, outer[1].value


def looks_like_pkcs12(data: bytes) -> bool:
    """``PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData OPTIONAL }``.

    Checked structurally so a PKCS#12 file with a wrong password is reported as that, not as
    "unrecognised": certificates and SubjectPublicKeyInfo start with a SEQUENCE, not an INTEGER.
    """
    try:
        outer, end = read_tlv(data)
        if outer.tag != SEQUENCE or end != len(data):
            return False
        items = read_tlvs(outer.value)
        if len(items) not in (2, 3) or items[0] != Tlv(INTEGER, b"\x03") or items[1].tag != SEQUENCE:
            return False
        content_type, _ = read_tlv(items[1].value)
    except DerError:
        return False
    return content_type.tag == OID and content_type.value in (OID_PKCS7_DATA, OID_PKCS7_SIGNED_DATA)
