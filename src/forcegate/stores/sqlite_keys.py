"""The service's own secrets on SQLite: access-token signing keys (sealed) and the admin token (digest).

Adding or retiring a signing key bumps ``trust_generation`` in the same transaction, as a registry
write does: every worker reloads its keys on its next request (see
:class:`forcegate.service.authentication.AuthenticationService`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from forcegate.errors import AlreadyExists
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import SigningKey
from forcegate.stores.records import (
    SIGNING_KEY_COLUMNS,
    admin_digest,
    admin_token_matches,
    check_retirable,
    signing_key_from_row,
    signing_key_values,
)
from forcegate.stores.sqlite_db import SqliteDatabase, is_duplicate
from forcegate.stores.values import check_secret

__all__ = ["SqliteServiceKeyStore"]

# The interpolated names are constants, never input.
_SELECT_KEYS = f"SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at DESC, kid DESC"  # noqa: S608
_INSERT_KEY = f"INSERT INTO signing_keys ({SIGNING_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608
#: The order the service picks its signer in (the newest active key), as ``signing_keys()`` returns them.
_SELECT_STATES = "SELECT kid, active FROM signing_keys ORDER BY created_at DESC, kid DESC"
_BUMP = "UPDATE trust_generation SET generation = generation + 1"


class SqliteServiceKeyStore:
    def __init__(self, db: SqliteDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def signing_keys(self) -> Sequence[SigningKey]:
        return [signing_key_from_row(self._box, row) for row in self._db.read_all(_SELECT_KEYS)]

    async def add_signing_key(self, key: SigningKey) -> None:
        values = signing_key_values(self._box, key)
        async with self._db.write() as conn:
            try:
                conn.execute(_INSERT_KEY, values)
            except sqlite3.IntegrityError as exc:
                if not is_duplicate(exc):
                    raise
                raise AlreadyExists(f"a signing key with kid {values[0]!r} already exists") from None
            conn.execute(_BUMP)

    async def retire_signing_key(self, kid: str) -> None:
        async with self._db.write() as conn:
            # Checked under the write lock: a concurrent rotation or retirement cannot slip in between.
            states = [(str(row[0]), bool(row[1])) for row in conn.execute(_SELECT_STATES).fetchall()]
            check_retirable(states, kid)
            conn.execute("DELETE FROM signing_keys WHERE kid = ?", (kid,))
            conn.execute(_BUMP)

    async def set_admin_token(self, token: str) -> None:
        digest = admin_digest(check_secret(token, "admin token"))
        await self._db.execute(
            "INSERT INTO admin_token (singleton, token_sha256, updated_at) VALUES (1, ?, ?) "
            "ON CONFLICT (singleton) DO UPDATE SET token_sha256 = excluded.token_sha256, "
            "updated_at = excluded.updated_at",
            (digest, time.time()),
        )

    async def check_admin_token(self, token: str) -> bool:
        row = self._db.read_one("SELECT token_sha256 FROM admin_token WHERE singleton = 1")
        return admin_token_matches(token, None if row is None else str(row[0]))

    async def has_admin_token(self) -> bool:
        return self._db.read_one("SELECT 1 FROM admin_token WHERE singleton = 1") is not None
