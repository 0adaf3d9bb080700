"""Load any key material an operator is likely to hand over, recognising its format."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,
    load_der_public_key,
    load_pem_private_key,
    load_pem_public_key,
)

from forcegate.core._b64 import b64_decode_lenient
from forcegate.errors import KeyMaterialError, KeystorePasswordError
from forcegate.keys import _der
from forcegate.keys._jks import JCEKS_MAGIC, JKS_MAGIC, read_jks
from forcegate.keys._util import build_chain, common_name, load_certificate, unique_alias
from forcegate.keys.jwk import key_from_jwk, load_jwks, rfc7638_thumbprint
from forcegate.keys.model import (
    KeyEntry,
    Keystore,
    PrivateKey,
    PublicKey,
    SourceFormat,
    as_private_key,
    as_public_key,
    certificate_public_key,
    same_public_key,
)
from forcegate.keys.pkcs12 import read_pkcs12

__all__ = ["MAX_KEYSTORE_BYTES", "load_keystore", "load_keystore_file"]

MAX_KEYSTORE_BYTES = 1024 * 1024
_TRIED = "JKS, PKCS#12, DER certificate, DER public key, DER private key, PEM, JWK/JWKS JSON, base64 DER certificate"
_PEM_LABEL = re.compile(rb"[A-Z0-9 ]{1,40}")
_CERT_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE"})
_PUBLIC_LABELS = frozenset({b"PUBLIC KEY", b"RSA PUBLIC KEY"})
_PRIVATE_LABELS = frozenset({b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"})
_IGNORED_LABELS = frozenset({b"EC PARAMETERS"})  # `openssl ecparam -genkey` output; the key names its curve
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/=_\-\s]+")


def load_keystore(data: bytes, *, password: bytes | None = None, filename: str = "") -> Keystore:
    """Recognise and read ``data``: JKS, PKCS#12, PEM, DER, JWK, JWKS or a bare base64 certificate.

    PEM may mix certificates, public keys and private keys (PKCS#8, PKCS#1, SEC 1, encrypted with
    ``password``); a private key and the certificate holding its public key become one
    ``private_key`` entry with the chain built from the other certificates. The "bare base64"
    form is how ConnectedApp metadata stores ``oauthConfig/certificate``. ``filename`` only names
    things in messages and aliases. Anything unrecognised raises
    :class:`~forcegate.errors.KeyMaterialError` listing the formats tried.
    """
    where = f" in {filename!r}" if filename else ""
    if len(data) > MAX_KEYSTORE_BYTES:
        raise KeyMaterialError(f"key material{where} is larger than {MAX_KEYSTORE_BYTES} bytes")
    if not data.strip():
        raise KeyMaterialError(f"key material{where} is empty")
    stem = Path(filename).name.split(".")[0] if filename else ""
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic in (JKS_MAGIC, JCEKS_MAGIC):
        return read_jks(data, password=password)
    if data[0] == 0x30:
        if _der.looks_like_pkcs12(data):
            return read_pkcs12(data, password=password)
        found = _load_der(data, password=password, stem=stem, source="der")
        if found is not None:
            return found
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        if "-----BEGIN " in text:
            return _load_pem(data, password=password, stem=stem)
        stripped = text.strip()
        if stripped.startswith("{"):
            return _load_json(stripped, where=where)
        if _BASE64_TEXT.fullmatch(stripped):
            found = _load_bare_base64(stripped, stem=stem)
            if found is not None:
                return found
    raise KeyMaterialError(f"unrecognised key material{where}; tried {_TRIED}")


def load_keystore_file(path: str | Path, *, password: bytes | None = None) -> Keystore:
    """:func:`load_keystore` on a file's contents (at most 1 MiB)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEYSTORE_BYTES + 1)
    except OSError as exc:
        raise KeyMaterialError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    return load_keystore(data, password=password, filename=path.name)


def _certificate_entry(certificate: x509.Certificate, alias: str, source: SourceFormat) -> KeyEntry:
    return KeyEntry(
        alias=alias,
        kind="certificate",
        source_format=source,
        certificate=certificate,
        chain=(certificate,),
        public_key=certificate_public_key(certificate),
    )


def _public_entry(key: PublicKey, alias: str, source: SourceFormat) -> KeyEntry:
    return KeyEntry(alias=alias, kind="public_key", source_format=source, public_key=key)


def _load_der(data: bytes, *, password: bytes | None, stem: str, source: SourceFormat) -> Keystore | None:
    try:
        certificate = load_certificate(data)
    except (ValueError, x509.InvalidVersion):
        pass
    else:
        alias = common_name(certificate) or stem or "certificate"
        return Keystore(entries=(_certificate_entry(certificate, alias, source),))
    try:
        public = as_public_key(load_der_public_key(data))
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        if public is None:
            raise KeyMaterialError("unsupported public key type (RSA, EC or Ed25519 expected)")
        return Keystore(entries=(_public_entry(public, stem or rfc7638_thumbprint(public), source),))
    private = _der_private_key(data, password=password)
    if private is None:
        return None
    entry = _private_entry(private, None, (), alias=stem or "key", source=source)
    return Keystore(entries=(entry,))


def _der_private_key(data: bytes, *, password: bytes | None) -> PrivateKey | None:
    try:
        return as_private_key(load_der_private_key(data, password=None))
    except TypeError:
        pass  # encrypted PKCS#8: needs the password
    except (ValueError, UnsupportedAlgorithm):
        return None
    if password is None:
        raise KeystorePasswordError("the private key is encrypted: a password is required")
    try:
        return as_private_key(load_der_private_key(data, password=password))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeystorePasswordError("the private key password is wrong, or the key is corrupted") from None


def _private_entry(
    key: PrivateKey,
    leaf: x509.Certificate | None,
    chain: tuple[x509.Certificate, ...],
    *,
    alias: str,
    source: SourceFormat,
) -> KeyEntry:
    return KeyEntry(
        alias=alias,
        kind="private_key",
        source_format=source,
        certificate=leaf,
        chain=chain,
        private_key=key,
        public_key=key.public_key(),
    )


def _pem_private_key(block: bytes, index: int, *, password: bytes | None) -> PrivateKey:
    encrypted = block.startswith(b"-----BEGIN ENCRYPTED") or b"Proc-Type: 4,ENCRYPTED" in block
    if encrypted and password is None:
        raise KeystorePasswordError(f"PEM block #{index} is an encrypted private key: a password is required")
    try:
        return as_private_key(load_pem_private_key(block, password=password if encrypted else None))
    except (ValueError, TypeError):
        if encrypted:
            raise KeystorePasswordError(f"PEM block #{index}: wrong password, or the key is corrupted") from None
        raise KeyMaterialError(f"PEM block #{index} is not a readable private key") from None
    except UnsupportedAlgorithm:
        raise KeyMaterialError(f"PEM block #{index} uses an unsupported key type or cipher") from None


def _pem_certificate(block: bytes, index: int) -> x509.Certificate:
    try:
        return load_certificate(block, pem=True)
    except KeyMaterialError as exc:  # a certificate, but one forcegate refuses: say which block
        raise KeyMaterialError(f"PEM block #{index}: {exc.reason}") from None


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(label, whole block) for each PEM block; text between blocks is ignored.

    A linear scan: every BEGIN must be closed by its END before the next block is searched for, so
    a file of unterminated BEGIN lines costs one pass, not one pass per line.
    """
    blocks: list[tuple[bytes, bytes]] = []
    position = 0
    while (start := data.find(b"-----BEGIN ", position)) >= 0:
        label_end = data.find(b"-----", start + 11)
        label = data[start + 11 : label_end] if label_end >= 0 else b""
        if not _PEM_LABEL.fullmatch(label):
            raise KeyMaterialError(f"PEM block #{len(blocks) + 1} has a malformed BEGIN line")
        footer = b"-----END " + label + b"-----"
        end = data.find(footer, label_end)
        if end < 0:
            raise KeyMaterialError(f"PEM block #{len(blocks) + 1} ({label.decode('ascii')}) has no END line")
        position = end + len(footer)
        blocks.append((label, data[start:position]))
    return blocks


def _load_pem(data: bytes, *, password: bytes | None, stem: str) -> Keystore:
    certificates: list[x509.Certificate] = []
    publics: list[PublicKey] = []
    privates: list[PrivateKey] = []
    for index, (label, block) in enumerate(_pem_blocks(data), start=1):
        try:
            if label in _CERT_LABELS:
                certificates.append(_pem_certificate(block, index))
            elif label in _PUBLIC_LABELS:
                public = as_public_key(load_pem_public_key(block))
                if public is None:
                    raise KeyMaterialError(f"PEM block #{index}: unsupported public key type")
                publics.append(public)
            elif label in _PRIVATE_LABELS:
                privates.append(_pem_private_key(block, index, password=password))
            elif label not in _IGNORED_LABELS:
                raise KeyMaterialError(f"PEM block #{index} ({label.decode('ascii')}) is not a key or certificate")
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
            raise KeyMaterialError(f"PEM block #{index} ({label.decode('ascii')}) is unreadable") from None
    if not (certificates or publics or privates):
        raise KeyMaterialError("PEM text holds no key or certificate block")
    entries: list[KeyEntry] = []
    used_aliases: set[str] = set()
    in_chains: list[x509.Certificate] = []
    for key in privates:
        leaf = next((c for c in certificates if same_public_key(certificate_public_key(c), key.public_key())), None)
        chain = build_chain(leaf, certificates) if leaf is not None else ()
        in_chains.extend(chain)
        base = (common_name(leaf) if leaf is not None else None) or stem or "key"
        entries.append(_private_entry(key, leaf, chain, alias=unique_alias(base, used_aliases), source="pem"))
    for certificate in certificates:
        if certificate not in in_chains:
            alias = unique_alias(common_name(certificate) or stem or "certificate", used_aliases)
            entries.append(_certificate_entry(certificate, alias, "pem"))
    known = [entry.public_key for entry in entries]
    for public in publics:
        if not any(same_public_key(public, other) for other in known):
            alias = unique_alias(stem or rfc7638_thumbprint(public), used_aliases)
            entries.append(_public_entry(public, alias, "pem"))
            known.append(public)
    return Keystore(entries=tuple(entries))


def _load_json(text: str, *, where: str) -> Keystore:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise KeyMaterialError(f"key material{where} starts like JSON but does not parse") from None
    if isinstance(document, dict) and "keys" in document:
        return load_jwks(document)
    if isinstance(document, dict) and "kty" in document:
        return Keystore(entries=(key_from_jwk(document),))
    raise KeyMaterialError(f"JSON{where} is neither a JWK (no 'kty') nor a JWK Set (no 'keys')")


def _load_bare_base64(text: str, *, stem: str) -> Keystore | None:
    try:
        der = b64_decode_lenient("".join(text.split()))
    except ValueError:
        return None
    if not der or der[0] != 0x30:
        return None
    try:
        certificate = load_certificate(der)
    except (ValueError, x509.InvalidVersion):
        return None
    alias = common_name(certificate) or stem or "certificate"
    return Keystore(entries=(_certificate_entry(certificate, alias, "der"),))
