"""The service's own secrets on PostgreSQL: access-token signing keys (sealed) and the admin token (digest).

Adding or retiring a signing key bumps ``trust_generation`` in the same transaction, FIRST, as a
registry write does (:mod:`forcegate.stores.postgres_trust`): the row lock serialises key changes
between hosts, and every worker reloads its keys on its next request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from forcegate.errors import AlreadyExists
from forcegate.stores import records, values
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import SigningKey
from forcegate.stores.postgres_db import PostgresDatabase, placeholders

__all__ = ["PostgresServiceKeyStore"]

# The interpolated names are constants, never input.
_SELECT_KEYS = f"SELECT {records.SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY created_at DESC, kid DESC"  # noqa: S608
_INSERT_KEY = f"INSERT INTO signing_keys ({records.SIGNING_KEY_COLUMNS}) VALUES ({placeholders(5)})"  # noqa: S608
#: The order the service picks its signer in (the newest active key), as ``signing_keys()`` returns them.
_SELECT_STATES = "SELECT kid, active FROM signing_keys ORDER BY created_at DESC, kid DESC"
_BUMP = "UPDATE trust_generation SET generation = generation + 1 WHERE singleton = 1"


class PostgresServiceKeyStore:
    def __init__(self, db: PostgresDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def signing_keys(self) -> Sequence[SigningKey]:
        return [records.signing_key_from_row(self._box, row) for row in await self._db.fetch(_SELECT_KEYS)]

    async def add_signing_key(self, key: SigningKey) -> None:
        row = records.signing_key_values(self._box, key)
        async with self._db.transaction() as conn:
            await conn.execute(_BUMP)
            try:
                await conn.execute(_INSERT_KEY, *row)
            except asyncpg.UniqueViolationError:
                raise AlreadyExists(f"a signing key with kid {row[0]!r} already exists") from None

    async def retire_signing_key(self, kid: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(_BUMP)  # the lock: a concurrent rotation or retirement waits for this one
            states = [(str(r[0]), bool(r[1])) for r in await conn.fetch(_SELECT_STATES)]
            records.check_retirable(states, kid)
            await conn.execute("DELETE FROM signing_keys WHERE kid = $1", kid)

    async def set_admin_token(self, token: str) -> None:
        digest = records.admin_digest(values.check_secret(token, "admin token"))
        await self._db.execute(
            "INSERT INTO admin_token (singleton, token_sha256, updated_at) VALUES (1, $1, $2) "
            "ON CONFLICT (singleton) DO UPDATE SET token_sha256 = excluded.token_sha256, "
            "updated_at = excluded.updated_at",
            digest,
            time.time(),
        )

    async def check_admin_token(self, token: str) -> bool:
        stored = await self._db.fetchval("SELECT token_sha256 FROM admin_token WHERE singleton = 1")
        return records.admin_token_matches(token, None if stored is None else str(stored))

    async def has_admin_token(self) -> bool:
        return await self._db.fetchval("SELECT 1 FROM admin_token WHERE singleton = 1") is not None
