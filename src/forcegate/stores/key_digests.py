"""The key digest of each stored certificate (``certificates.key_sha256``, schema version 8).

Two certificates of one key are one signer: the registry's "never shared with another org" rule is
checked by certificate fingerprint and by this digest. New rows get it when they are written
(:func:`forcegate.stores.records.certificate_values`); rows stored before version 8 are filled in
here when the store opens, once (an indexed look finds none afterwards). Migrations are plain SQL,
which cannot parse a certificate.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

if TYPE_CHECKING:  # asyncpg is the [postgres] extra: the SQLite path must not import it
    from forcegate.stores.postgres_db import Connection

__all__ = ["KEY_DIGEST_VERSION", "backfill_postgres", "backfill_sqlite", "key_sha256"]

#: The schema version that has the column.
KEY_DIGEST_VERSION = 8


def key_sha256(certificate: x509.Certificate) -> str:
    """SHA-256 (hex) of the certificate's DER SubjectPublicKeyInfo."""
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _digest_of(der: bytes) -> str:
    return key_sha256(x509.load_der_x509_certificate(bytes(der)))


def backfill_sqlite(conn: sqlite3.Connection) -> int:
    """Fill the digest of the rows without one (inside the caller's lock); how many."""
    rows = conn.execute("SELECT id, der FROM certificates WHERE key_sha256 IS NULL").fetchall()
    if rows:
        conn.execute("BEGIN IMMEDIATE")  # the connection is in autocommit mode
        try:
            conn.executemany(
                "UPDATE certificates SET key_sha256 = ? WHERE id = ?", [(_digest_of(der), cid) for cid, der in rows]
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(rows)


async def backfill_postgres(conn: Connection) -> int:
    """Fill the digest of the rows without one; how many."""
    rows = await conn.fetch("SELECT id, der FROM certificates WHERE key_sha256 IS NULL")
    if rows:
        async with conn.transaction():
            await conn.executemany(
                "UPDATE certificates SET key_sha256 = $1 WHERE id = $2",
                [(_digest_of(row["der"]), row["id"]) for row in rows],
            )
    return len(rows)
