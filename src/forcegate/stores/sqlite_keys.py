"""The service's own secrets on SQLite: access-token signing keys (sealed) and the admin token (digest)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from forcegate.errors import ConfigurationError
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import SigningKey
from forcegate.stores.sqlite_db import SqliteDatabase
from forcegate.stores.sqlite_values import check_secret, check_text

__all__ = ["SqliteServiceKeyStore"]

# Compared against when no admin token is set, so "none set" takes as long as "wrong token".
_NO_TOKEN_DIGEST = "0" * 64


def _key_context(kid: str) -> str:
    return f"signing_key:{kid}"


def _digest(token: str) -> str:
    # A plain SHA-256 suffices: the admin token is a long random string, not a password, so there
    # is nothing for a slow, salted hash to protect against; a copy of the database grants nothing.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SqliteServiceKeyStore:
    def __init__(self, db: SqliteDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def signing_keys(self) -> Sequence[SigningKey]:
        rows = self._db.read_all(
            "SELECT kid, algorithm, private_pem_enc, created_at, active FROM signing_keys "
            "ORDER BY created_at DESC, kid DESC"
        )
        return [
            SigningKey(
                kid=kid,
                algorithm=algorithm,
                private_pem=self._box.decrypt(sealed, context=_key_context(kid)),
                created_at=created_at,
                active=bool(active),
            )
            for kid, algorithm, sealed, created_at, active in rows
        ]

    async def add_signing_key(self, key: SigningKey) -> None:
        kid = check_text(key.kid, "kid", allow_empty=False)
        algorithm = check_text(key.algorithm, "algorithm", allow_empty=False)
        if not isinstance(key.private_pem, bytes) or not key.private_pem:
            raise ConfigurationError("a signing key's private_pem is non-empty bytes")
        sealed = self._box.encrypt(key.private_pem, context=_key_context(kid))
        self._db.execute(
            "INSERT INTO signing_keys (kid, algorithm, private_pem_enc, created_at, active) VALUES (?, ?, ?, ?, ?)",
            (kid, algorithm, sealed, key.created_at, int(key.active)),
            duplicate=f"a signing key with kid {kid!r} already exists",
        )

    async def set_admin_token(self, token: str) -> None:
        digest = _digest(check_secret(token, "admin token"))
        self._db.execute(
            "INSERT INTO admin_token (singleton, token_sha256, updated_at) VALUES (1, ?, ?) "
            "ON CONFLICT (singleton) DO UPDATE SET token_sha256 = excluded.token_sha256, "
            "updated_at = excluded.updated_at",
            (digest, time.time()),
        )

    async def check_admin_token(self, token: str) -> bool:
        row = self._db.read_one("SELECT token_sha256 FROM admin_token WHERE singleton = 1")
        stored = _NO_TOKEN_DIGEST if row is None else str(row[0])
        given = _digest(token) if isinstance(token, str) else ""
        return hmac.compare_digest(given, stored) and row is not None

    async def has_admin_token(self) -> bool:
        return self._db.read_one("SELECT 1 FROM admin_token WHERE singleton = 1") is not None
