"""The trust registry on SQLite: apps and their consumer secrets, orgs, org certificates.

Every write runs in one ``BEGIN IMMEDIATE`` transaction that also bumps ``trust_generation``, so a
worker caching the registry notices a change made by any process on its next ``generation()`` read.
Reads of something missing return ``None`` or nothing; writes to something missing raise
:class:`NotFound`.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Sequence

from cryptography import x509

from forcegate.errors import AlreadyExists, NotFound
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import App, AppSecret, CertificateRecord, CertificateState, Org, OrgPolicy
from forcegate.stores.protocols import UNSET
from forcegate.stores.records import (
    APP_COLUMNS,
    CERT_COLUMNS,
    NEW_CERT_COLUMN_COUNT,
    NEW_CERT_COLUMNS,
    app_from_row,
    app_secret_from_row,
    certificate_from_row,
    certificate_rows,
    check_sharing,
    secret_context,
    the_certificate,
)
from forcegate.stores.sqlite_db import SqliteDatabase, is_duplicate
from forcegate.stores.values import (
    ORG_COLUMN_COUNT,
    ORG_COLUMNS,
    canonical_org_id,
    check_apps,
    check_canvas_name,
    check_consumer_key,
    check_fingerprint_prefix,
    check_flag,
    check_keep_previous,
    check_not_last_secret,
    check_org,
    check_secret,
    check_state,
    check_text,
    checked_generation,
    org_changes,
    org_from_row,
    org_values,
)

__all__ = ["GENERATION", "SqliteTrustStore", "bump_generation", "insert_certificates"]

_MAX_PAGE = 1000
# The interpolated names are the module's constants, never input.
_INSERT_ORG = f"INSERT INTO orgs ({ORG_COLUMNS}) VALUES ({', '.join('?' * ORG_COLUMN_COUNT)})"  # noqa: S608
_SELECT_ORG = f"SELECT {ORG_COLUMNS} FROM orgs WHERE org_id = ?"  # noqa: S608
_LIST_ORGS = f"SELECT {ORG_COLUMNS} FROM orgs WHERE org_id > ? ORDER BY org_id LIMIT ?"  # noqa: S608
_SELECT_APP = f"SELECT {APP_COLUMNS} FROM apps"  # noqa: S608
_INSERT_APP = f"INSERT INTO apps ({APP_COLUMNS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608
_INSERT_CERT = f"INSERT INTO certificates ({NEW_CERT_COLUMNS}) VALUES ({', '.join('?' * NEW_CERT_COLUMN_COUNT)})"  # noqa: S608


#: Up to four other orgs holding a certificate, or another certificate of its key (check_sharing names three).
_OTHER_HOLDERS_BY_FINGERPRINT = "SELECT org_id FROM certificates WHERE sha256_fingerprint = ? AND org_id <> ? LIMIT 4"
_OTHER_HOLDERS_BY_KEY = "SELECT org_id FROM certificates WHERE key_sha256 = ? AND org_id <> ? LIMIT 4"
_FLAG_SHARED_BY_FINGERPRINT = "UPDATE certificates SET shared = 1 WHERE sha256_fingerprint = ? AND shared = 0"
_FLAG_SHARED_BY_KEY = "UPDATE certificates SET shared = 1 WHERE key_sha256 = ? AND shared = 0"


def bump_generation(conn: sqlite3.Connection) -> None:
    """Inside a registry write: every process caching the registry reloads on its next request."""
    conn.execute("UPDATE trust_generation SET generation = generation + 1")


_bump = bump_generation


def insert_certificates(
    conn: sqlite3.Connection, oid: str, new: Sequence[tuple[object, ...]], *, shared: bool
) -> list[CertificateRecord]:
    """Trust the :func:`certificate_rows` ``new`` for org ``oid`` inside the caller's write transaction:
    the org must exist; one held by another org is refused unless ``shared``. The one certificate
    write of the registry (``certs add``, the admin API and an enrollment's activation)."""
    if conn.execute("SELECT 1 FROM orgs WHERE org_id = ?", (oid,)).fetchone() is None:
        raise NotFound(f"org {oid} is not registered")
    added: list[CertificateRecord] = []
    for values in new:
        fingerprint, key_digest = str(values[3]), str(values[-1])
        # A few holders are enough to refuse, or to name in the refusal; a certificate shared on
        # purpose by many orgs must not cost a scan of all of them per insert.
        others = list(
            dict.fromkeys(
                row[0]
                for sql, value in ((_OTHER_HOLDERS_BY_FINGERPRINT, fingerprint), (_OTHER_HOLDERS_BY_KEY, key_digest))
                for row in conn.execute(sql, (value, oid))
            )
        )
        check_sharing(fingerprint, oid, others, shared=shared)
        try:
            cursor = conn.execute(_INSERT_CERT, values)
        except sqlite3.IntegrityError as exc:
            if not is_duplicate(exc):
                raise
            raise AlreadyExists(f"certificate {fingerprint} is already registered for org {oid}") from None
        if others:
            # Only the rows not flagged yet (partial indexes of migration 8): after the first, none.
            for sql, value in ((_FLAG_SHARED_BY_FINGERPRINT, fingerprint), (_FLAG_SHARED_BY_KEY, key_digest)):
                conn.execute(sql, (value,))
        added.append(certificate_from_row((cursor.lastrowid, *values)))
    return added


def _bind_apps(conn: sqlite3.Connection, org_id: str, apps: Sequence[str], now: float) -> None:
    for key in apps:
        if conn.execute("SELECT 1 FROM apps WHERE consumer_key = ?", (key,)).fetchone() is None:
            raise NotFound(f"no app with consumer key {key!r}")
        conn.execute("INSERT INTO org_apps (org_id, consumer_key, created_at) VALUES (?, ?, ?)", (org_id, key, now))


#: The registry generation (one row), also read inside a grant's write (decision 0036).
GENERATION = "SELECT generation FROM trust_generation"


class SqliteTrustStore:
    """:class:`~forcegate.stores.protocols.TrustStore` on SQLite; consumer secrets sealed with ``box``."""

    def __init__(self, db: SqliteDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def generation(self) -> int:
        row = self._db.read_one(GENERATION)
        return checked_generation(None if row is None else row[0])

    # --- apps -----------------------------------------------------------------------------------------

    async def add_app(
        self, *, consumer_key: str, name: str, secret: str, any_org: bool = False, canvas_name: str | None = None
    ) -> App:
        key = check_consumer_key(consumer_key)
        name = check_text(name, "app name")
        secret = check_secret(secret)
        flag = check_flag(any_org, "any_org")
        developer_name = check_canvas_name(canvas_name)
        now = time.time()
        async with self._db.write() as conn:
            try:
                conn.execute(_INSERT_APP, (key, name, flag, now, developer_name))
            except sqlite3.IntegrityError as exc:
                if not is_duplicate(exc):
                    raise
                raise AlreadyExists(f"an app with consumer key {key!r} is already registered") from None
            self._insert_secret(conn, key, secret, now)
            _bump(conn)
        return App(consumer_key=key, name=name, any_org=bool(flag), created_at=now, canvas_name=developer_name)

    async def set_canvas_name(self, consumer_key: str, canvas_name: str | None) -> App:
        developer_name = check_canvas_name(canvas_name)
        async with self._db.write() as conn:
            if (
                conn.execute(
                    "UPDATE apps SET canvas_name = ? WHERE consumer_key = ?", (developer_name, consumer_key)
                ).rowcount
                == 0
            ):
                raise NotFound(f"no app with consumer key {consumer_key!r}")
            row = conn.execute(f"{_SELECT_APP} WHERE consumer_key = ?", (consumer_key,)).fetchone()
            _bump(conn)
        return app_from_row(row)

    async def get_app(self, consumer_key: str) -> App | None:
        row = self._db.read_one(f"{_SELECT_APP} WHERE consumer_key = ?", (consumer_key,))
        return None if row is None else app_from_row(row)

    async def list_apps(self) -> Sequence[App]:
        return [app_from_row(row) for row in self._db.read_all(f"{_SELECT_APP} ORDER BY consumer_key")]

    async def delete_app(self, consumer_key: str) -> None:
        async with self._db.write() as conn:
            # The app's secrets go with it (ON DELETE CASCADE).
            if conn.execute("DELETE FROM apps WHERE consumer_key = ?", (consumer_key,)).rowcount == 0:
                raise NotFound(f"no app with consumer key {consumer_key!r}")
            _bump(conn)

    async def app_secrets(self, consumer_key: str) -> Sequence[AppSecret]:
        rows = self._db.read_all(
            "SELECT id, secret_enc, created_at FROM app_secrets WHERE consumer_key = ? AND active = 1 ORDER BY id DESC",
            (consumer_key,),
        )
        return [app_secret_from_row(self._box, consumer_key, row) for row in rows]

    async def add_app_secret(self, consumer_key: str, secret: str, *, keep_previous: int = 1) -> AppSecret:
        secret = check_secret(secret)
        keep_previous = check_keep_previous(keep_previous)
        now = time.time()
        async with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM apps WHERE consumer_key = ?", (consumer_key,)).fetchone() is None:
                raise NotFound(f"no app with consumer key {consumer_key!r}")
            secret_id = self._insert_secret(conn, consumer_key, secret, now)
            # The new secret and the keep_previous newest of the still-active older ones stay active.
            conn.execute(
                "UPDATE app_secrets SET active = 0 WHERE consumer_key = ? AND active = 1 AND id NOT IN ("
                "SELECT id FROM app_secrets WHERE consumer_key = ? AND active = 1 ORDER BY id DESC LIMIT ?)",
                (consumer_key, consumer_key, keep_previous + 1),
            )
            _bump(conn)
        return AppSecret(id=secret_id, consumer_key=consumer_key, secret=secret, created_at=now)

    async def retire_app_secret(self, consumer_key: str, secret_id: int) -> None:
        async with self._db.write() as conn:
            row = conn.execute(
                "SELECT active FROM app_secrets WHERE consumer_key = ? AND id = ?", (consumer_key, secret_id)
            ).fetchone()
            if row is None:
                raise NotFound(f"app {consumer_key!r} has no secret with id {secret_id}")
            if row[0]:
                (others,) = conn.execute(
                    "SELECT COUNT(*) FROM app_secrets WHERE consumer_key = ? AND active = 1 AND id <> ?",
                    (consumer_key, secret_id),
                ).fetchone()
                check_not_last_secret(others, consumer_key, secret_id)
                conn.execute("UPDATE app_secrets SET active = 0 WHERE id = ?", (secret_id,))
            _bump(conn)

    def _insert_secret(self, conn: sqlite3.Connection, consumer_key: str, secret: str, now: float) -> int:
        # The ciphertext is bound to the row id, which exists only after the insert.
        cursor = conn.execute(
            "INSERT INTO app_secrets (consumer_key, secret_enc, created_at, active) VALUES (?, '', ?, 1)",
            (consumer_key, now),
        )
        secret_id = cursor.lastrowid
        assert secret_id is not None  # an INSERT into a rowid table always sets it
        sealed = self._box.encrypt(secret.encode("utf-8"), context=secret_context(consumer_key, secret_id))
        conn.execute("UPDATE app_secrets SET secret_enc = ? WHERE id = ?", (sealed, secret_id))
        return secret_id

    # --- orgs -----------------------------------------------------------------------------------------

    async def add_org(self, org: Org, *, apps: Sequence[str] = ()) -> Org:
        checked = check_org(org)
        bound = check_apps(apps)
        now = time.time()
        async with self._db.write() as conn:
            try:
                conn.execute(_INSERT_ORG, org_values(checked, now))
            except sqlite3.IntegrityError as exc:
                if not is_duplicate(exc):
                    raise
                raise AlreadyExists(f"org {checked.org_id} is already registered") from None
            _bind_apps(conn, checked.org_id, bound, now)
            _bump(conn)
        return dataclasses.replace(checked, created_at=now, updated_at=now)

    async def get_org(self, org_id: str) -> Org | None:
        row = self._db.read_one(_SELECT_ORG, (canonical_org_id(org_id),))
        return None if row is None else org_from_row(row)

    async def list_orgs(self, *, limit: int = 1000, after: str | None = None) -> Sequence[Org]:
        limit = max(0, min(limit, _MAX_PAGE))
        rows = self._db.read_all(_LIST_ORGS, (after or "", limit))
        return [org_from_row(row) for row in rows]

    async def update_org(
        self,
        org_id: str,
        *,
        name: str | object = UNSET,
        enabled: bool | object = UNSET,
        issuers: Sequence[str] | object = UNSET,
        subjects: Sequence[str] | object | None = UNSET,
        scopes: Sequence[str] | object = UNSET,
        algorithms: Sequence[str] | object = UNSET,
        policy: OrgPolicy | object = UNSET,
        apps: Sequence[str] | object = UNSET,
    ) -> Org:
        oid = canonical_org_id(org_id)
        bound = None if apps is UNSET else check_apps(apps)
        changes = org_changes(
            name=name,
            enabled=enabled,
            issuers=issuers,
            subjects=subjects,
            scopes=scopes,
            algorithms=algorithms,
            policy=policy,
        )
        # Column names are org_changes' fixed keys, never the caller's.
        assignments = ", ".join(f"{column} = ?" for column in changes)
        async with self._db.write() as conn:
            cursor = conn.execute(f"UPDATE orgs SET {assignments} WHERE org_id = ?", (*changes.values(), oid))  # noqa: S608
            if cursor.rowcount == 0:
                raise NotFound(f"org {oid} is not registered")
            if bound is not None:
                conn.execute("DELETE FROM org_apps WHERE org_id = ?", (oid,))
                _bind_apps(conn, oid, bound, time.time())
            row = conn.execute(_SELECT_ORG, (oid,)).fetchone()
            _bump(conn)
        return org_from_row(row)

    async def bind_app(self, org_id: str, consumer_key: str) -> None:
        oid = canonical_org_id(org_id)
        (key,) = check_apps((consumer_key,))
        async with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM orgs WHERE org_id = ?", (oid,)).fetchone() is None:
                raise NotFound(f"org {oid} is not registered")
            if conn.execute("SELECT 1 FROM org_apps WHERE org_id = ? AND consumer_key = ?", (oid, key)).fetchone():
                return
            _bind_apps(conn, oid, (key,), time.time())
            _bump(conn)

    async def org_apps(self, org_id: str) -> Sequence[str]:
        rows = self._db.read_all(
            "SELECT consumer_key FROM org_apps WHERE org_id = ? ORDER BY consumer_key", (canonical_org_id(org_id),)
        )
        return [row[0] for row in rows]

    async def app_orgs(self, consumer_key: str, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        rows = self._db.read_all(
            "SELECT org_id FROM org_apps WHERE consumer_key = ? AND org_id > ? ORDER BY org_id LIMIT ?",
            (consumer_key, after or "", max(0, min(limit, _MAX_PAGE))),
        )
        return [row[0] for row in rows]

    async def app_binding_counts(self) -> dict[str, int]:
        rows = self._db.read_all("SELECT consumer_key, COUNT(*) FROM org_apps GROUP BY consumer_key")
        return {row[0]: int(row[1]) for row in rows}

    async def delete_org(self, org_id: str) -> None:
        oid = canonical_org_id(org_id)
        async with self._db.write() as conn:
            # Its certificates go with it (ON DELETE CASCADE).
            if conn.execute("DELETE FROM orgs WHERE org_id = ?", (oid,)).rowcount == 0:
                raise NotFound(f"org {oid} is not registered")
            _bump(conn)

    # --- certificates ---------------------------------------------------------------------------------

    async def add_certificate(
        self, org_id: str, certificate: x509.Certificate, *, label: str = "", shared: bool = False
    ) -> CertificateRecord:
        (record,) = await self.add_certificates(org_id, [(certificate, label)], shared=shared)
        return record

    async def add_certificates(
        self, org_id: str, certificates: Sequence[tuple[x509.Certificate, str]], *, shared: bool = False
    ) -> Sequence[CertificateRecord]:
        oid = canonical_org_id(org_id)
        new = certificate_rows(oid, certificates, time.time(), shared=check_flag(shared, "shared"))
        async with self._db.write() as conn:
            added = insert_certificates(conn, oid, new, shared=shared)
            _bump(conn)
        return added

    async def certificate_holders(self, fingerprint: str, *, key_sha256: str | None = None) -> Sequence[str]:
        rows = self._db.read_all(
            "SELECT DISTINCT org_id FROM certificates WHERE sha256_fingerprint = ? OR key_sha256 = ? ORDER BY org_id",
            (fingerprint, key_sha256),
        )
        return [row[0] for row in rows]

    async def certificates_expiring(self, before: Sequence[float]) -> Sequence[int]:
        if not before:
            return []
        counts = ", ".join("COALESCE(SUM(c.not_after < ?), 0)" for _ in before)
        row = self._db.read_one(
            f"SELECT {counts} FROM certificates c JOIN orgs o ON o.org_id = c.org_id "  # noqa: S608 - placeholders only
            "WHERE c.state = 'active' AND c.retire_at IS NULL AND o.enabled = 1",
            tuple(float(t) for t in before),
        )
        assert row is not None  # an aggregate always yields one row
        return [int(n) for n in row]

    async def expiring_certificates(self, before: float, *, limit: int = 1000) -> Sequence[CertificateRecord]:
        columns = ", ".join(f"c.{name.strip()}" for name in CERT_COLUMNS.split(","))
        rows = self._db.read_all(
            f"SELECT {columns} FROM certificates c JOIN orgs o ON o.org_id = c.org_id "  # noqa: S608 - constants only
            "WHERE c.state = 'active' AND c.retire_at IS NULL AND o.enabled = 1 "
            "AND c.not_after < ? ORDER BY c.not_after, c.id LIMIT ?",
            (float(before), max(0, min(limit, _MAX_PAGE))),
        )
        return [certificate_from_row(row) for row in rows]

    async def list_certificates(self, org_id: str, *, include_retired: bool = True) -> Sequence[CertificateRecord]:
        """The org's certificates, newest first (the one a rotation just added is tried first)."""
        where = "org_id = ?" if include_retired else "org_id = ? AND state = 'active'"
        rows = self._db.read_all(
            f"SELECT {CERT_COLUMNS} FROM certificates WHERE {where} ORDER BY id DESC",  # noqa: S608
            (canonical_org_id(org_id),),
        )
        return [certificate_from_row(row) for row in rows]

    async def set_certificate_state(self, org_id: str, fingerprint: str, state: CertificateState) -> CertificateRecord:
        oid = canonical_org_id(org_id)
        prefix = check_fingerprint_prefix(fingerprint)
        new_state = check_state(state)
        async with self._db.write() as conn:
            # The prefix is hex only (checked above), so it carries no LIKE wildcard.
            rows = conn.execute(
                f"SELECT {CERT_COLUMNS} FROM certificates WHERE org_id = ? AND sha256_fingerprint LIKE ?",  # noqa: S608
                (oid, prefix + "%"),
            ).fetchall()
            record = the_certificate(rows, oid, prefix)
            # A retirement or reactivation by hand ends any overlap a rotation scheduled.
            conn.execute("UPDATE certificates SET state = ?, retire_at = NULL WHERE id = ?", (new_state, record.id))
            _bump(conn)
        return dataclasses.replace(record, state=new_state, retire_at=None)

    async def retire_due_certificates(self, now: float) -> int:
        async with self._db.write() as conn:
            count = conn.execute(
                "UPDATE certificates SET state = 'retired' WHERE state = 'active' AND retire_at <= ?", (float(now),)
            ).rowcount
            if count:
                _bump(conn)
        return count
