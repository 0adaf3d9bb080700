"""Secrets at rest: AES-256-GCM with a context bound into each ciphertext.

A stored secret becomes the text token ``v1.<key-id>.<base64url(nonce | ciphertext | tag)>``:

* the 12-byte nonce is random per encryption (2^32 encryptions under one key keep the collision
  probability below 2^-32, far beyond what a trust registry writes);
* the associated data is a context string the caller names (``"app_secret:<consumer_key>:<row id>"``,
  ``"signing_key:<kid>"``), so a ciphertext copied into another row does not decrypt;
* ``key-id`` is a short fingerprint of the key, so a database opened with a different key fails with
  "encrypted with a different key" instead of an opaque authentication failure.

A box may hold a **keyring** (``FORCEGATE_ENCRYPTION_KEY=NEW,OLD``, newest first): it seals with the
first key and opens a token with whichever key its ``key-id`` names. That is what lets the key change
without downtime: every worker first learns ``NEW,OLD``, ``forcegate db rekey`` re-seals the stored
secrets under ``NEW``, then ``OLD`` is dropped. A token's format does not depend on the ring, so values
sealed before keyrings existed open unchanged.

No key ever appears in a ``repr``, a log line or an exception message (key ids do: they are not secret).
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

__all__ = ["KEY_FILE_NAME", "SecretBox", "generate_key", "load_secret_box", "parse_key", "parse_keys"]

KEY_FILE_NAME = "encryption.key"
_VERSION = "v1"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SecretBox:
    """Encrypts and decrypts small secrets with AES-256-GCM: seals with ``key``, opens with ``key`` or
    any of ``previous`` (a keyring, newest first)."""

    __slots__ = ("_aead", "_key_id", "_ring")

    def __init__(self, key: bytes, *previous: bytes) -> None:
        ring: dict[str, AESGCM] = {}
        for candidate in (key, *previous):
            if not isinstance(candidate, bytes) or len(candidate) != _KEY_BYTES:
                raise ConfigurationError(f"an encryption key is exactly {_KEY_BYTES} bytes")
            # The same key listed twice is harmless: it keeps its first (newest) place.
            ring.setdefault(_key_id(candidate), AESGCM(candidate))
        self._ring = ring
        self._key_id = _key_id(key)
        self._aead = ring[self._key_id]

    def __repr__(self) -> str:
        if len(self._ring) == 1:
            return f"SecretBox(key_id={self._key_id!r})"
        return f"SecretBox(key_id={self._key_id!r}, previous={self.key_ids[1:]!r})"

    @property
    def key_id(self) -> str:
        """A short, non-secret fingerprint of the key that seals (8 base64url characters)."""
        return self._key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The fingerprints of every key of the ring, the sealing one first."""
        return tuple(self._ring)

    def encrypt(self, plaintext: bytes, *, context: str) -> str:
        """Encrypt ``plaintext`` bound to ``context`` with the first key; return the ``v1.<key-id>.<data>`` token."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(context))
        return f"{_VERSION}.{self._key_id}.{b64url_encode(nonce + sealed)}"

    def sealed_with(self, token: str) -> str | None:
        """The key id a token names (None if it is not a token of this format); nothing is verified."""
        parts = token.split(".") if isinstance(token, str) else []
        return parts[1] if len(parts) == 3 and parts[0] == _VERSION else None

    def decrypt(self, token: str, *, context: str) -> bytes:
        """Decrypt a token made by :meth:`encrypt` with any key of the ring and the same ``context``.

        Raises :class:`ConfigurationError`: a token from a key outside the ring says so; a token that
        fails authentication (altered, or moved from the row it was written for) is refused.
        """
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != _VERSION:
            raise ConfigurationError(f"stored secret for {context!r} is not a {_VERSION} encrypted value")
        aead = self._ring.get(parts[1])
        if aead is None:
            configured = ", ".join(repr(key_id) for key_id in self._ring)
            raise ConfigurationError(
                f"stored secret for {context!r} was encrypted with a different key (key id {parts[1]!r}; the "
                f"configured key{'s are' if len(self._ring) > 1 else ' is'} {configured}): set "
                f"FORCEGATE_ENCRYPTION_KEY (or restore {KEY_FILE_NAME}) to include the key this database was "
                "written with"
            )
        try:
            data = b64url_decode(parts[2])
        except ValueError:
            raise ConfigurationError(f"stored secret for {context!r} is not valid base64url") from None
        if len(data) < _NONCE_BYTES + _TAG_BYTES:
            raise ConfigurationError(f"stored secret for {context!r} is truncated")
        try:
            return aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], _aad(context))
        except InvalidTag:
            raise ConfigurationError(
                f"stored secret for {context!r} failed authentication: it was altered or belongs to another record"
            ) from None


def _key_id(key: bytes) -> str:
    # A domain-separated hash: the fingerprint names the key without being usable as one.
    return b64url_encode(hashlib.sha256(b"forcegate secret box key id\x00" + key).digest()[:6])


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


def parse_keys(text: str, *, source: str = "encryption_key") -> list[bytes]:
    """A keyring: comma-separated keys (each as :func:`parse_key` reads it), newest first.

    An empty entry (``NEW,``) is refused rather than skipped: it is more likely a key that went missing
    from a copy-paste than a stray comma. ``source`` names the setting in messages, with the position
    of the faulty key when there are several; no key is ever quoted.
    """
    entries = text.split(",")
    keys: list[bytes] = []
    for position, entry in enumerate(entries, start=1):
        where = source if len(entries) == 1 else f"{source} (key {position} of {len(entries)})"
        if len(entries) > 1 and not entry.strip():
            raise ConfigurationError(f"{where} is empty: list the keys comma-separated, newest first")
        keys.append(parse_key(entry, source=where))
    return keys


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for ``settings``: ``encryption_key`` when set (one key, or a keyring ``NEW,OLD,…``),
    else ``data_dir/encryption.key`` (one key).

    The key file is created on first use (mode 0600, in a 0700 directory) and never overwritten.
    Several processes starting at once agree on one key: the file appears atomically, complete, and a
    process that loses the race reads the winner's key.
    """
    if settings.encryption_key:
        return SecretBox(*parse_keys(settings.encryption_key, source="FORCEGATE_ENCRYPTION_KEY"))
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
