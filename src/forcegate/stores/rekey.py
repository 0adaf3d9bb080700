"""Re-seal every secret at rest with the newest encryption key, for ``forcegate db rekey``.

The secrets: consumer secrets (``app_secrets``), signing keys (``signing_keys``) and the key-check
value (``store_meta``). Each is opened with whichever key of the configured keyring sealed it and,
unless that was the newest key already, sealed again with the newest one, under the same context. It
all happens in ONE transaction that first bumps the registry generation (which, on PostgreSQL, also
takes the lock registry writes take): a value that no configured key opens refuses the whole run, and
nothing changes.

The rotation this serves: roll out every worker with ``NEW,OLD``; rekey; roll out
with ``NEW`` alone. Workers holding ``NEW,OLD`` open both forms, so they serve throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from forcegate.errors import ConfigurationError
from forcegate.settings import POSTGRESQL_SCHEMES, Settings
from forcegate.stores import migrate as migrations
from forcegate.stores.encryption import SecretBox, load_secret_box
from forcegate.stores.key_check import KEY_CHECK_NAME
from forcegate.stores.records import secret_context, signing_key_context

__all__ = ["RekeyResult", "rekey"]


@dataclass(frozen=True, slots=True)
class RekeyResult:
    key_id: str  # the (non-secret) id of the key every secret is now sealed with
    resealed: int  # how many values this run sealed again
    total: int  # how many sealed values the database holds


class _Sealed(NamedTuple):
    """One stored secret: where it lives (``table``, the row's ``key``) and its encryption context."""

    table: str
    key: object
    context: str
    sealed: str


# Per table: the sealed column and the row's key column.
_COLUMNS = {
    "app_secrets": ("secret_enc", "id"),
    "signing_keys": ("private_pem_enc", "kid"),
    "store_meta": ("value", "name"),
}
_SELECT_APP_SECRETS = "SELECT id, consumer_key, secret_enc FROM app_secrets ORDER BY id"
_SELECT_SIGNING_KEYS = "SELECT kid, private_pem_enc FROM signing_keys ORDER BY kid"


def _sealed_values(app_rows: Sequence[Any], key_rows: Sequence[Any], check: str | None) -> list[_Sealed]:
    values = [_Sealed("app_secrets", row[0], secret_context(row[1], row[0]), row[2]) for row in app_rows]
    values += [_Sealed("signing_keys", row[0], signing_key_context(row[0]), row[1]) for row in key_rows]
    if check is not None:
        values.append(_Sealed("store_meta", KEY_CHECK_NAME, KEY_CHECK_NAME, check))
    return values


def _update(table: str, token: str, key: str) -> str:
    """The UPDATE of one re-sealed value; ``token`` and ``key`` spell the dialect's two placeholders."""
    sealed, by = _COLUMNS[table]
    return f"UPDATE {table} SET {sealed} = {token} WHERE {by} = {key}"  # noqa: S608 - the module's names only


def _reseal(box: SecretBox, values: Sequence[_Sealed]) -> list[tuple[str, str, object]]:
    """``(table, new token, row key)`` for each value not sealed with the newest key yet.

    Every value is opened, including those already under the newest key: one that no configured key
    opens (or that was altered) raises :class:`ConfigurationError` before anything is written.
    """
    changes: list[tuple[str, str, object]] = []
    for value in values:
        try:
            plaintext = box.decrypt(value.sealed, context=value.context)
        except ConfigurationError as exc:
            raise ConfigurationError(f"cannot re-seal, nothing was changed: {exc.reason}") from None
        if box.sealed_with(value.sealed) != box.key_id:
            changes.append((value.table, box.encrypt(plaintext, context=value.context), value.key))
    return changes


async def rekey(settings: Settings) -> RekeyResult:
    """Re-seal the secrets of the database ``settings`` name with the first key of its keyring.

    The schema must be current (as ``forcegate serve`` needs it); a missing SQLite database is a
    :class:`ConfigurationError` (there is nothing to re-seal, and nothing is created).
    """
    box = load_secret_box(settings)
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        resealed, total = _rekey_sqlite(url.removeprefix("sqlite:///"), box)
    elif url.startswith(POSTGRESQL_SCHEMES):
        resealed, total = await _rekey_postgres(url, box)
    else:
        scheme = url.split(":", 1)[0]
        raise ConfigurationError(f"database URL scheme {scheme!r} is not supported")
    return RekeyResult(box.key_id, resealed, total)


def _rekey_sqlite(path: str, box: SecretBox) -> tuple[int, int]:
    from forcegate.stores.sqlite_db import SqliteDatabase

    if not Path(path).exists():
        raise ConfigurationError(f"there is no database at {path}: nothing to re-seal")
    db = SqliteDatabase.open(path)
    try:
        with db.locked() as conn:
            migrations.should_upgrade("check", migrations.current_version(conn), database=db.path)
        with db.transaction() as conn:
            conn.execute("UPDATE trust_generation SET generation = generation + 1")
            check = conn.execute("SELECT value FROM store_meta WHERE name = ?", (KEY_CHECK_NAME,)).fetchone()
            values = _sealed_values(
                conn.execute(_SELECT_APP_SECRETS).fetchall(),
                conn.execute(_SELECT_SIGNING_KEYS).fetchall(),
                None if check is None else str(check[0]),
            )
            changes = _reseal(box, values)
            for table, sealed, key in changes:
                conn.execute(_update(table, "?", "?"), (sealed, key))
    finally:
        db.close()
    return len(changes), len(values)


async def _rekey_postgres(url: str, box: SecretBox) -> tuple[int, int]:
    from forcegate.stores.postgres_db import PostgresDatabase

    db = await PostgresDatabase.open(url, pool_size=1)
    try:
        async with db.connection() as conn:
            migrations.should_upgrade("check", await migrations.postgres_current_version(conn), database=db.where)
        async with db.transaction() as conn:
            # First, as every registry write does: the generation's row lock serialises this run with
            # them (a secret added or deleted meanwhile waits), as SQLite's write lock does.
            await conn.execute("UPDATE trust_generation SET generation = generation + 1 WHERE singleton = 1")
            check = await conn.fetchval("SELECT value FROM store_meta WHERE name = $1", KEY_CHECK_NAME)
            values = _sealed_values(
                await conn.fetch(_SELECT_APP_SECRETS),
                await conn.fetch(_SELECT_SIGNING_KEYS),
                None if check is None else str(check),
            )
            changes = _reseal(box, values)
            for table, sealed, key in changes:
                await conn.execute(_update(table, "$1", "$2"), sealed, key)
    finally:
        await db.close()
    return len(changes), len(values)
