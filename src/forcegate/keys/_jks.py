"""Java KeyStore (JKS), the format Salesforce Certificate and Key Management imports and exports.

Layout (big-endian, ``java.io.DataOutputStream``)::

    u32 magic 0xFEEDFEED | u32 version (2) | u32 entry count
    entry: u32 tag | UTF alias | u64 creation time (ms)
      tag 1 PrivateKeyEntry:  u32 len, EncryptedPrivateKeyInfo DER (Sun KeyProtector)
                              u32 chain length, each: [UTF "X.509" (v2 only)] u32 len, DER
      tag 2 TrustedCertEntry: [UTF "X.509" (v2 only)] u32 len, DER
    SHA-1(password as UTF-16BE || "Mighty Aphrodite" || everything above)

UTF is Java's *modified* UTF-8 behind a u16 byte count. See docs/decisions/0003 for why this is
written here rather than taken from a dependency; tests check it against Java's ``keytool``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from forcegate.errors import KeyMaterialError, KeystorePasswordError
from forcegate.keys import _der
from forcegate.keys._util import load_certificate
from forcegate.keys.model import KeyEntry, Keystore, as_private_key, certificate_public_key, same_public_key

__all__ = ["JCEKS_MAGIC", "JKS_MAGIC", "decode_modified_utf8", "encode_modified_utf8", "read_jks", "write_jks"]

JKS_MAGIC = 0xFEEDFEED
JCEKS_MAGIC = 0xCECECECE
_TAG_PRIVATE_KEY = 1
_TAG_TRUSTED_CERT = 2
_TAG_SECRET_KEY = 3  # JCEKS only
_CERT_TYPE = "X.509"
_WHITENER = b"Mighty Aphrodite"  # Sun's constant, mixed into the integrity digest
_DIGEST_LEN = 20
_SALT_LEN = 20
# sun.security.provider.KeyProtector: 1.3.6.1.4.1.42.2.17.1.1
_KEY_PROTECTOR_OID = bytes.fromhex("2b060104012a02110101")


def _password_utf16(password: bytes) -> bytes:
    # Java digests the password's UTF-16 code units high byte first; the API takes bytes, read as UTF-8.
    try:
        return password.decode("utf-8").encode("utf-16-be")
    except UnicodeDecodeError:
        raise KeystorePasswordError("keystore password is not valid UTF-8") from None


def encode_modified_utf8(text: str) -> bytes:
    """Java ``DataOutput.writeUTF`` body: CESU-8 with U+0000 as C0 80."""
    units = text.encode("utf-16-be", "surrogatepass")
    out = bytearray()
    for (unit,) in struct.iter_unpack(">H", units):
        if 0 < unit < 0x80:
            out.append(unit)
        elif unit < 0x800:
            out += bytes([0xC0 | unit >> 6, 0x80 | unit & 0x3F])
        else:
            out += bytes([0xE0 | unit >> 12, 0x80 | unit >> 6 & 0x3F, 0x80 | unit & 0x3F])
    if len(out) > 0xFFFF:
        raise KeyMaterialError("alias is too long for a JKS keystore")
    return struct.pack(">H", len(out)) + bytes(out)


def decode_modified_utf8(data: bytes) -> str:
    """Inverse of :func:`encode_modified_utf8` (without the length prefix), strict."""
    units: list[int] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b < 0x80 and b != 0:
            units.append(b)
            i += 1
        elif b & 0xE0 == 0xC0 and i + 1 < len(data) and data[i + 1] & 0xC0 == 0x80:
            units.append((b & 0x1F) << 6 | data[i + 1] & 0x3F)
            i += 2
        elif b & 0xF0 == 0xE0 and i + 2 < len(data) and data[i + 1] & 0xC0 == 0x80 and data[i + 2] & 0xC0 == 0x80:
            units.append((b & 0x0F) << 12 | (data[i + 1] & 0x3F) << 6 | data[i + 2] & 0x3F)
            i += 3
        else:
            raise KeyMaterialError("JKS alias is not valid modified UTF-8")
    raw = struct.pack(f">{len(units)}H", *units)
    try:
        return raw.decode("utf-16-be")
    except UnicodeDecodeError:
        raise KeyMaterialError("JKS alias holds an unpaired surrogate") from None


def _keystream(password: bytes, salt: bytes, length: int) -> bytes:
    out = bytearray()
    digest = salt
    while len(out) < length:
        digest = hashlib.sha1(password + digest).digest()  # noqa: S324 - fixed by the JKS format
        out += digest
    return bytes(out[:length])


def _protect(pkcs8: bytes, password: bytes) -> bytes:
    salt = os.urandom(_SALT_LEN)
    stream = _keystream(password, salt, len(pkcs8))
    masked = bytes(a ^ b for a, b in zip(pkcs8, stream, strict=True))
    check = hashlib.sha1(password + pkcs8).digest()  # noqa: S324 - fixed by the JKS format
    return _der.encode_encrypted_private_key_info(_KEY_PROTECTOR_OID, salt + masked + check)


def _recover(encoded: bytes, password: bytes, alias: str) -> bytes:
    try:
        oid, protected = _der.parse_encrypted_private_key_info(encoded)
    except _der.DerError as exc:
        raise KeyMaterialError(f"JKS entry {alias!r}: malformed protected key ({exc})") from None
    if oid != _KEY_PROTECTOR_OID:
        try:
            name = _der.decode_oid(oid)
        except _der.DerError:
            name = "unreadable OID"
        raise KeyMaterialError(f"JKS entry {alias!r}: unsupported key protection algorithm {name}")
    if len(protected) <= _SALT_LEN + _DIGEST_LEN:
        raise KeyMaterialError(f"JKS entry {alias!r}: protected key is too short")
    salt, masked, check = protected[:_SALT_LEN], protected[_SALT_LEN:-_DIGEST_LEN], protected[-_DIGEST_LEN:]
    stream = _keystream(password, salt, len(masked))
    pkcs8 = bytes(a ^ b for a, b in zip(masked, stream, strict=True))
    if not hmac.compare_digest(hashlib.sha1(password + pkcs8).digest(), check):  # noqa: S324
        raise KeystorePasswordError(f"JKS entry {alias!r}: the key password is wrong")
    return pkcs8


def _store_digest(password: bytes, body: bytes) -> bytes:
    return hashlib.sha1(password + _WHITENER + body).digest()  # noqa: S324 - fixed by the JKS format


def write_jks(entries: Sequence[KeyEntry], *, password: bytes, now: datetime | None = None) -> bytes:
    """Serialise private-key and certificate entries as a JKS keystore (version 2).

    Each private key is protected with ``password`` too: Salesforce's keystore import, like
    ``keytool`` by default, expects the key password to equal the store password. Aliases are
    written lower-cased, as Java's JKS provider does on every write: it looks entries up by the
    lower-cased alias, so an alias stored with capitals could be listed but never opened.
    """
    secret = _password_utf16(password)
    millis = int((now or datetime.now(UTC)).timestamp() * 1000)
    seen: set[str] = set()
    body = bytearray(struct.pack(">III", JKS_MAGIC, 2, len(entries)))
    for entry in entries:
        alias = entry.alias.lower()
        if not alias or alias in seen:
            raise KeyMaterialError(f"JKS aliases must be non-empty and unique ignoring case: {entry.alias!r}")
        seen.add(alias)
        head = encode_modified_utf8(alias) + struct.pack(">Q", millis)
        if entry.private_key is not None:
            chain = entry.chain or ((entry.certificate,) if entry.certificate is not None else ())
            if not chain:
                raise KeyMaterialError(f"entry {entry.alias!r}: JKS stores a private key only with its certificate")
            if not same_public_key(certificate_public_key(chain[0]), entry.private_key.public_key()):
                raise KeyMaterialError(f"entry {entry.alias!r}: the private key does not match its certificate")
            pkcs8 = entry.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
            protected = _protect(pkcs8, secret)
            body += struct.pack(">I", _TAG_PRIVATE_KEY) + head + struct.pack(">I", len(protected)) + protected
            body += struct.pack(">I", len(chain))
            for certificate in chain:
                body += _encode_certificate(certificate)
        elif entry.certificate is not None:
            body += struct.pack(">I", _TAG_TRUSTED_CERT) + head + _encode_certificate(entry.certificate)
        else:
            raise KeyMaterialError(f"entry {entry.alias!r}: JKS cannot hold a {entry.kind} entry without certificate")
    return bytes(body) + _store_digest(secret, bytes(body))


def _encode_certificate(certificate: x509.Certificate) -> bytes:
    der = certificate.public_bytes(Encoding.DER)
    return encode_modified_utf8(_CERT_TYPE) + struct.pack(">I", len(der)) + der


class _Reader:
    """Bounds-checked reads over the keystore body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise KeyMaterialError("JKS keystore is truncated")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def u16(self) -> int:
        value: int = struct.unpack(">H", self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def utf(self) -> str:
        return decode_modified_utf8(self.take(self.u16()))

    def certificate(self, version: int, alias: str) -> x509.Certificate:
        if version == 2 and (kind := self.utf()) != _CERT_TYPE:
            raise KeyMaterialError(f"JKS entry {alias!r}: unsupported certificate type {kind!r}")
        der = self.take(self.u32())
        try:
            return load_certificate(der)
        except (ValueError, x509.InvalidVersion):
            raise KeyMaterialError(f"JKS entry {alias!r}: unreadable certificate") from None
        except KeyMaterialError as exc:  # a certificate, but one forcegate refuses
            raise KeyMaterialError(f"JKS entry {alias!r}: {exc.reason}") from None


def read_jks(data: bytes, *, password: bytes | None) -> Keystore:
    """Read a JKS keystore (version 1 or 2).

    With a password the store's integrity digest is checked first; a mismatch (wrong password or
    altered file, which the format cannot tell apart) raises
    :class:`~forcegate.errors.KeystorePasswordError`. Without a password, as with ``keytool``, the
    integrity is not checked, so only certificate entries are returned: a store holding a private
    key raises ``KeystorePasswordError``. Private keys are decrypted with the same password, as
    Salesforce and ``keytool`` set them. JCEKS and other formats raise ``KeyMaterialError``.
    """
    if len(data) >= 4 and data[:4] == JCEKS_MAGIC.to_bytes(4, "big"):
        raise KeyMaterialError(
            "JCEKS keystores are not supported; convert with keytool -importkeystore -deststoretype JKS"
        )
    if len(data) < 12 + _DIGEST_LEN or data[:4] != JKS_MAGIC.to_bytes(4, "big"):
        raise KeyMaterialError("not a JKS keystore (magic 0xFEEDFEED expected)")
    body = data[:-_DIGEST_LEN]
    secret = _password_utf16(password) if password is not None else None
    if secret is not None and not hmac.compare_digest(_store_digest(secret, body), data[-_DIGEST_LEN:]):
        raise KeystorePasswordError("JKS keystore password is wrong, or the keystore was altered")
    reader = _Reader(body)
    reader.take(4)
    version, count = reader.u32(), reader.u32()
    if version not in (1, 2):
        raise KeyMaterialError(f"unsupported JKS version {version}")
    entries: list[KeyEntry] = []
    seen: set[str] = set()
    for _ in range(count):
        tag = reader.u32()
        alias = reader.utf()
        reader.take(8)  # creation time: not kept
        if alias.casefold() in seen:
            raise KeyMaterialError(f"JKS keystore has the alias {alias!r} twice")
        seen.add(alias.casefold())
        if tag == _TAG_PRIVATE_KEY:
            protected = reader.take(reader.u32())
            chain = tuple(reader.certificate(version, alias) for _ in range(reader.u32()))
            if secret is None:
                raise KeystorePasswordError(f"JKS entry {alias!r} holds a private key: a password is required")
            entries.append(_private_entry(alias, _recover(protected, secret, alias), chain))
        elif tag == _TAG_TRUSTED_CERT:
            certificate = reader.certificate(version, alias)
            entries.append(
                KeyEntry(
                    alias=alias,
                    kind="certificate",
                    source_format="jks",
                    certificate=certificate,
                    chain=(certificate,),
                    public_key=certificate_public_key(certificate),
                )
            )
        elif tag == _TAG_SECRET_KEY:
            raise KeyMaterialError(f"JKS entry {alias!r} is a secret-key entry, which only JCEKS can hold")
        else:
            raise KeyMaterialError(f"JKS entry {alias!r} has the unknown tag {tag}")
    if reader.pos != len(body):
        raise KeyMaterialError("JKS keystore has unexpected bytes after its last entry")
    return Keystore(entries=tuple(entries))


def _private_entry(alias: str, pkcs8: bytes, chain: tuple[x509.Certificate, ...]) -> KeyEntry:
    try:
        private_key = as_private_key(load_der_private_key(pkcs8, password=None))
    except (ValueError, UnsupportedAlgorithm):
        raise KeyMaterialError(f"JKS entry {alias!r}: unreadable private key") from None
    public_key = private_key.public_key()
    if chain and not same_public_key(certificate_public_key(chain[0]), public_key):
        raise KeyMaterialError(f"JKS entry {alias!r}: the private key does not match its certificate")
    return KeyEntry(
        alias=alias,
        kind="private_key",
        source_format="jks",
        certificate=chain[0] if chain else None,
        chain=chain,
        private_key=private_key,
        public_key=public_key,
    )
