"""Secrets at rest: AES-256-GCM with a context bound into each ciphertext.

A stored secret becomes the text token ``v1.<key-id>.<base64url(nonce | ciphertext | tag)>``:

* the 12-byte nonce is random per encryption (2^32 encryptions under one key keep the collision
  probability below 2^-32, far beyond what a trust registry writes);
* the associated data is a context string the caller names (``"app_secret:<consumer_key>:<row id>"``,
  ``"signing_key:<kid>"``), so a ciphertext copied into another row does not decrypt;
* ``key-id`` is a short fingerprint of the key, so a database opened with a different key fails with
  "encrypted with a different key" instead of an opaque authentication failure.

The key never appears in a ``repr``, a log line or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from forcegate.core._b64 import b64url_decode, b64url_encode
from forcegate.errors import ConfigurationError
from forcegate.settings import Settings

__all__ = ["KEY_FILE_NAME", "SecretBox", "generate_key", "load_secret_box", "parse_key"]

KEY_FILE_NAME = "encryption.key"
_VERSION = "v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SecretBox:
    """Encrypts and decrypts small secrets with one AES-256-GCM key."""

    __slots__ = ("_aead", "_key_id")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
            raise ConfigurationError(f"an encryption key is exactly {_KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        # A domain-separated hash: the fingerprint names the key without being usable as one.
        self._key_id = b64url_encode(hashlib.sha256(b"forcegate secret box key id\x00" + key).digest()[:6])

    def __repr__(self) -> str:
        return f"SecretBox(key_id={self._key_id!r})"

    @property
    def key_id(self) -> str:
        """A short, non-secret fingerprint of the key (8 base64url characters)."""
        return self._key_id

    def encrypt(self, plaintext: bytes, *, context: str) -> str:
        """Encrypt ``plaintext`` bound to ``context``; return the ``v1.<key-id>.<data>`` token."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(context))
        return f"{_VERSION}.{self._key_id}.{b64url_encode(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> bytes:
        """Decrypt a token made by :meth:`encrypt` with the same key and ``context``.

        Raises :class:`ConfigurationError`: a token from another key says so; a token that fails
        authentication (altered, or moved from the row it was written for) is refused.
        """
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != _VERSION:
            raise ConfigurationError(f"stored secret for {context!r} is not a {_VERSION} encrypted value")
        if parts[1] != self._key_id:
            raise ConfigurationError(
                f"stored secret for {context!r} was encrypted with a different key (key id {parts[1]!r}; the "
                f"configured key is {self._key_id!r}): set FORCEGATE_ENCRYPTION_KEY or restore "
                f"{KEY_FILE_NAME} to the key this database was written with"
            )
        try:
            data = b64url_decode(parts[2])
        except ValueError:
            raise ConfigurationError(f"stored secret for {context!r} is not valid base64url") from None
        if len(data) < _NONCE_BYTES + _TAG_BYTES:
            raise ConfigurationError(f"stored secret for {context!r} is truncated")
        try:
            return self._aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], _aad(context))
        except InvalidTag:
            raise ConfigurationError(
                f"stored secret for {context!r} failed authentication: it was altered or belongs to another record"
            ) from None


def _aad(context: str) -> bytes:
    return f"forcegate:{_VERSION}:{context}".encode()


def generate_key() -> str:
    """A new random key, as base64url text (the form ``FORCEGATE_ENCRYPTION_KEY`` takes)."""
    return b64url_encode(secrets.token_bytes(_KEY_BYTES))


def parse_key(text: str, *, source: str = "encryption_key") -> bytes:
    """Decode base64url or standard base64 (padding optional) of exactly 32 bytes.

    ``source`` names where the text came from, for the error message; the text itself is never quoted.
    """
    cleaned = "".join(text.split())
    # Both alphabets decode through the standard one; validate=True refuses any stray character.
    standard = cleaned.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{source} is not base64: it must be base64url (or base64) of {_KEY_BYTES} random bytes"
        ) from None
    if len(key) != _KEY_BYTES:
        raise ConfigurationError(
            f"{source} decodes to {len(key)} bytes; an AES-256 key is exactly {_KEY_BYTES} random bytes, "
            "base64url-encoded (43 characters)"
        )
    return key


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for ``settings``: ``encryption_key`` when set, else ``data_dir/encryption.key``.

    The key file is created on first use (mode 0600, in a 0700 directory) and never overwritten.
    Several processes starting at once agree on one key: the file appears atomically, complete, and a
    process that loses the race reads the winner's key.
    """
    if settings.encryption_key:
        return SecretBox(parse_key(settings.encryption_key, source="FORCEGATE_ENCRYPTION_KEY"))
    return SecretBox(_load_or_create_key_file(Path(settings.data_dir) / KEY_FILE_NAME))


def _load_or_create_key_file(path: Path) -> bytes:
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create data directory {path.parent}: {exc.strerror}") from None
    key = secrets.token_bytes(_KEY_BYTES)
    # Written in full to a private temporary file, then published with link(): link fails with
    # EEXIST when another process got there first, and nobody ever reads a half-written key.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.write(fd, (b64url_encode(key) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_key_file(path)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return _read_key_file(path)
        raise ConfigurationError(f"cannot create key file {path}: {exc.strerror}") from None
    finally:
        # Best effort: the temporary file is as private as the key file itself (same directory, 0600).
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise ConfigurationError(f"cannot read key file {path}: {reason}") from None
    return parse_key(text, source=f"key file {path}")
