"""PKCS#12 (``.p12`` / ``.pfx``): Java's default keystore type since Java 9."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from forcegate.errors import KeyMaterialError, KeystorePasswordError
from forcegate.keys import _der
from forcegate.keys._util import build_chain, certificate_parsing, unique_alias, vet_certificate
from forcegate.keys.model import KeyEntry, Keystore, as_private_key, certificate_public_key, same_public_key

__all__ = ["read_pkcs12", "write_pkcs12"]

# PBKDF2 rounds for the key and certificate bags and the MAC: OpenSSL 3's and Java 17's default.
_KDF_ROUNDS = 10_000


def write_pkcs12(entry: KeyEntry, *, password: bytes) -> bytes:
    """One private key with its certificate chain, friendly name = the entry's alias.

    Encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC, which Java
    (11.0.12+, 17) and OpenSSL 3 read; the legacy RC2/3DES defaults are not used.
    """
    if entry.private_key is None or entry.certificate is None:
        raise KeyMaterialError(f"entry {entry.alias!r}: a PKCS#12 bundle needs a private key and its certificate")
    if not password:
        raise KeyMaterialError("a PKCS#12 bundle needs a non-empty password")
    if not same_public_key(certificate_public_key(entry.certificate), entry.private_key.public_key()):
        raise KeyMaterialError(f"entry {entry.alias!r}: the private key does not match its certificate")
    extra = entry.chain[1:] if entry.chain and entry.chain[0] == entry.certificate else entry.chain
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        entry.alias.encode("utf-8"), entry.private_key, entry.certificate, list(extra) or None, encryption
    )


def read_pkcs12(data: bytes, *, password: bytes | None) -> Keystore:
    """Read a PKCS#12 file: its private key (with chain) and any other certificates.

    The private key's certificate and the CA certificates that chain up from it become one
    ``private_key`` entry; remaining certificates (``keytool`` trusted-certificate entries) become
    ``certificate`` entries. Only the first private key of a multi-key file is read (a limit of
    the underlying parser); use one file per key.
    """
    if not _der.looks_like_pkcs12(data):
        raise KeyMaterialError("not a PKCS#12 file")
    try:
        with certificate_parsing():
            parsed = pkcs12.load_pkcs12(data, password)
        for bag in (parsed.cert, *parsed.additional_certs):
            if bag is not None:
                vet_certificate(bag.certificate)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if password is None:
            raise KeystorePasswordError("PKCS#12 file is password-protected: a password is required") from None
        raise KeystorePasswordError("PKCS#12 password is wrong, or the file is corrupted") from None
    except KeyMaterialError as exc:  # a certificate, but one forcegate refuses (found while parsing or after)
        raise KeyMaterialError(f"PKCS#12 file: {exc.reason}") from None
    others = [(c.certificate, _name(c)) for c in parsed.additional_certs]
    entries: list[KeyEntry] = []
    used: set[str] = set()
    if parsed.key is not None:
        key = as_private_key(parsed.key)
        leaf = parsed.cert.certificate if parsed.cert is not None else None
        if leaf is not None and not same_public_key(certificate_public_key(leaf), key.public_key()):
            raise KeyMaterialError("PKCS#12 private key does not match its certificate")
        chain: tuple[x509.Certificate, ...] = ()
        if leaf is not None:
            chain = build_chain(leaf, [cert for cert, _ in others])
            others = [(cert, name) for cert, name in others if cert not in chain]
        alias = unique_alias((_name(parsed.cert) if parsed.cert is not None else None) or "key", used)
        entries.append(
            KeyEntry(
                alias=alias,
                kind="private_key",
                source_format="pkcs12",
                certificate=leaf,
                chain=chain,
                private_key=key,
                public_key=key.public_key(),
            )
        )
    elif parsed.cert is not None:
        others.insert(0, (parsed.cert.certificate, _name(parsed.cert)))
    for index, (cert, name) in enumerate(others, start=1):
        entries.append(
            KeyEntry(
                alias=unique_alias(name or f"certificate-{index}", used),
                kind="certificate",
                source_format="pkcs12",
                certificate=cert,
                chain=(cert,),
                public_key=certificate_public_key(cert),
            )
        )
    if not entries:
        raise KeyMaterialError("PKCS#12 file holds neither a key nor a certificate")
    return Keystore(entries=tuple(entries))


def _name(bag: pkcs12.PKCS12Certificate) -> str | None:
    name = bag.friendly_name
    return name.decode("utf-8", "replace") if name else None
