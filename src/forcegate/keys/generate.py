"""Self-signed signing certificates, as Salesforce Certificate and Key Management creates them.

Salesforce's "Create Self-Signed Certificate" makes an RSA key (2048, 3072 or 4096 bits) and a
SHA-256 self-signed certificate whose subject is ``CN=<unique name>, OU=<org id>,
O=Salesforce.com, L=San Francisco, ST=CA, C=US``; keys move between orgs and tools as JKS.
:func:`generate_certificate` makes the same kind of certificate (with the Salesforce subject when
``org_id`` is given) and :func:`write_bundle` writes it in every form the tools around it need.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from forcegate.errors import ConfigurationError, KeyMaterialError
from forcegate.keys._jks import write_jks
from forcegate.keys.model import KeyEntry
from forcegate.keys.pkcs12 import write_pkcs12

__all__ = ["SALESFORCE_KEY_SIZES", "BundlePaths", "generate_certificate", "self_signed_certificate", "write_bundle"]

SALESFORCE_KEY_SIZES = frozenset({2048, 3072, 4096})
_MAX_DAYS = 3650
_BUNDLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# keytool refuses store passwords shorter than 6 characters; so would anyone opening the bundle.
_MIN_PASSWORD_BYTES = 6


def generate_certificate(
    *,
    cn: str,
    key_size: int = 2048,
    days: int = 365,
    now: datetime | None = None,
    alias: str | None = None,
    org_id: str | None = None,
) -> KeyEntry:
    """A new RSA key and a self-signed SHA-256 certificate for it, as a ``private_key`` entry.

    The subject is ``CN=cn``; with ``org_id`` it is Salesforce's full subject (see the module
    docstring). Validity starts at ``now`` (default: the current time) and lasts ``days``. The
    entry's alias is ``alias`` or ``cn``. Raises :class:`~forcegate.errors.ConfigurationError`
    for a key size Salesforce does not offer, a non-positive validity, or a naive ``now``.
    """
    if key_size not in SALESFORCE_KEY_SIZES:
        raise ConfigurationError(f"key size {key_size} is not one Salesforce offers (2048, 3072, 4096)")
    _check_validity(cn=cn, days=days, now=now)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    certificate = self_signed_certificate(key, cn=cn, days=days, now=now, org_id=org_id)
    return KeyEntry(
        alias=alias or cn,
        kind="private_key",
        source_format="pem",  # generated in memory; PEM is what write_bundle emits first
        certificate=certificate,
        chain=(certificate,),
        private_key=key,
        public_key=key.public_key(),
    )


def _check_validity(*, cn: str, days: int, now: datetime | None) -> None:
    if not 1 <= days <= _MAX_DAYS:
        raise ConfigurationError(f"validity of {days} days is outside 1..{_MAX_DAYS}")
    if not cn or len(cn) > 64:
        raise ConfigurationError("the common name must be 1 to 64 characters (RFC 5280 ub-common-name)")
    if now is not None and now.tzinfo is None:
        raise ConfigurationError("now must be a timezone-aware datetime")


def self_signed_certificate(
    private_key: rsa.RSAPrivateKey,
    *,
    cn: str,
    days: int = 365,
    now: datetime | None = None,
    org_id: str | None = None,
) -> x509.Certificate:
    """A self-signed SHA-256 certificate for an existing RSA key, shaped as :func:`generate_certificate`'s."""
    _check_validity(cn=cn, days=days, now=now)
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org_id is not None:
        attributes += [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Salesforce.com"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "San Francisco"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    name = x509.Name(attributes)
    public_key = private_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        # 158 random bits under a fixed top bit: positive, always 20 octets (RFC 5280's maximum),
        # well above the 64 random bits the CA/Browser Forum asks for.
        .serial_number(secrets.randbits(159) | 1 << 158)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        # cA FALSE: this key signs JWTs, never certificates. A self-signed end-entity certificate
        # is trusted as itself (pinned per org), so it never has to act as an issuer, and saying
        # so stops anyone from chaining other certificates to it.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(private_key, hashes.SHA256())
    )


@dataclass(frozen=True, slots=True)
class BundlePaths:
    """Where :func:`write_bundle` put each file."""

    certificate: Path
    private_key: Path
    keystore: Path
    pkcs12: Path


def write_bundle(entry: KeyEntry, *, directory: Path, name: str, password: bytes) -> BundlePaths:
    """Write ``name.crt``, ``name.key.pem``, ``name.jks`` and ``name.p12`` into ``directory``.

    * ``.crt``: the certificate, PEM — register it with forcegate or paste it into a Connected App.
    * ``.key.pem``: the private key, unencrypted PKCS#8 PEM, for local tools that sign like the org
      does; created with mode 0600 from the first byte.
    * ``.jks``: alias ``name``, key password = store password, as Salesforce's keystore import
      expects; ``.p12``: the same for tools that prefer PKCS#12. Both are mode 0600 too.

    Existing files are never overwritten (:class:`~forcegate.errors.ConfigurationError`), and the
    bundle appears whole or not at all: every file is written to a temporary name, synced, then
    linked into place; on any failure the files already placed are removed again.
    """
    if entry.private_key is None or entry.certificate is None:
        raise KeyMaterialError(f"entry {entry.alias!r}: a bundle needs a private key and its certificate")
    if not _BUNDLE_NAME.fullmatch(name):
        raise ConfigurationError(f"bundle name {name!r} must be letters, digits, '_', '.', '-', starting alphanumeric")
    if len(password) < _MIN_PASSWORD_BYTES:
        raise ConfigurationError(f"the keystore password must be at least {_MIN_PASSWORD_BYTES} bytes")
    directory = Path(directory)
    paths = BundlePaths(
        certificate=directory / f"{name}.crt",
        private_key=directory / f"{name}.key.pem",
        keystore=directory / f"{name}.jks",
        pkcs12=directory / f"{name}.p12",
    )
    existing = [str(path) for path in _all_paths(paths) if path.exists()]
    if existing:
        raise ConfigurationError(f"refusing to overwrite existing files: {', '.join(existing)}")
    renamed = dataclasses.replace(entry, alias=name)
    contents = [
        (paths.certificate, entry.certificate.public_bytes(Encoding.PEM), 0o644),
        (paths.private_key, entry.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), 0o600),
        (paths.keystore, write_jks([renamed], password=password), 0o600),
        (paths.pkcs12, write_pkcs12(renamed, password=password), 0o600),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    placed: list[Path] = []
    try:
        for path, data, mode in contents:
            _place(path, data, mode)
            placed.append(path)
        _sync_directory(directory)
    except BaseException:
        for path in placed:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return paths


def _all_paths(paths: BundlePaths) -> tuple[Path, ...]:
    return paths.certificate, paths.private_key, paths.keystore, paths.pkcs12


def _place(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``data`` and ``mode`` atomically, failing if it exists."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    # The mode is given to open() itself, so a secret file is never readable by others, not even
    # for the instant between creation and a chmod. The umask can only remove bits; fchmod pins
    # secret files to exactly 0600 while public ones keep the umask's say.
    fd = os.open(temporary, flags, mode)
    try:
        try:
            if not mode & 0o077:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # unlike rename, link never replaces an existing file
        except FileExistsError:
            raise ConfigurationError(f"refusing to overwrite existing file {path}") from None
        except OSError as exc:
            # Some filesystems (FAT, some network mounts) have no hard links: fall back to a
            # rename after a fresh existence check, which is only racy against a concurrent writer.
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV) or path.exists():
                raise
            os.rename(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
