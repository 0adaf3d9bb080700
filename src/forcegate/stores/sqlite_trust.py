"""The trust registry on SQLite: apps and their consumer secrets, orgs, org certificates.

Every write runs in one ``BEGIN IMMEDIATE`` transaction that also bumps ``trust_generation``, so a
worker caching the registry notices a change made by any process on its next ``generation()`` read.
Reads of something missing return ``None`` or nothing; writes to something missing raise
:class:`NotFound`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.core.trusted_key import x5t_s256
from forcegate.errors import AlreadyExists, ConfigurationError, NotFound, RegistryError
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import App, AppSecret, CertificateRecord, CertificateState, Org, OrgPolicy
from forcegate.stores.protocols import UNSET
from forcegate.stores.sqlite_db import SqliteDatabase, is_duplicate
from forcegate.stores.sqlite_values import (
    MAX_KEEP_PREVIOUS,
    ORG_COLUMNS,
    canonical_org_id,
    check_consumer_key,
    check_fingerprint_prefix,
    check_org,
    check_policy,
    check_secret,
    check_state,
    check_strings,
    check_text,
    dump_strings,
    org_from_row,
)

__all__ = ["SqliteTrustStore"]

_CERT_COLUMNS = (
    "id, org_id, label, der, sha256_fingerprint, x5t_s256, subject, not_before, not_after, state, created_at"
)
_MAX_PAGE = 1000
# The interpolated names are the module's constants, never input.
_INSERT_ORG = f"INSERT INTO orgs ({ORG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_SELECT_ORG = f"SELECT {ORG_COLUMNS} FROM orgs WHERE org_id = ?"  # noqa: S608
_LIST_ORGS = f"SELECT {ORG_COLUMNS} FROM orgs WHERE org_id > ? ORDER BY org_id LIMIT ?"  # noqa: S608


def _secret_context(consumer_key: str, secret_id: int) -> str:
    return f"app_secret:{consumer_key}:{secret_id}"


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE trust_generation SET generation = generation + 1")


def _certificate(row: tuple[Any, ...]) -> CertificateRecord:
    cid, oid, label, der, fingerprint, x5t, subject, not_before, not_after, state, created_at = row
    return CertificateRecord(
        id=cid,
        org_id=oid,
        label=label,
        der=bytes(der),
        sha256_fingerprint=fingerprint,
        x5t_s256=x5t,
        subject=subject,
        not_before=not_before,
        not_after=not_after,
        state=state,
        created_at=created_at,
    )


class SqliteTrustStore:
    """:class:`~forcegate.stores.protocols.TrustStore` on SQLite; consumer secrets sealed with ``box``."""

    def __init__(self, db: SqliteDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def generation(self) -> int:
        row = self._db.read_one("SELECT generation FROM trust_generation")
        if row is None:
            raise RegistryError("the trust_generation row is missing: the schema was altered by hand")
        return int(row[0])

    # --- apps -----------------------------------------------------------------------------------------

    async def add_app(self, *, consumer_key: str, name: str, secret: str, any_org: bool = False) -> App:
        key = check_consumer_key(consumer_key)
        name = check_text(name, "app name")
        secret = check_secret(secret)
        if not isinstance(any_org, bool):
            raise ConfigurationError("any_org must be True or False")
        now = time.time()
        with self._db.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO apps (consumer_key, name, any_org, created_at) VALUES (?, ?, ?, ?)",
                    (key, name, int(any_org), now),
                )
            except sqlite3.IntegrityError as exc:
                if not is_duplicate(exc):
                    raise
                raise AlreadyExists(f"an app with consumer key {key!r} is already registered") from None
            self._insert_secret(conn, key, secret, now)
            _bump(conn)
        return App(consumer_key=key, name=name, any_org=any_org, created_at=now)

    async def get_app(self, consumer_key: str) -> App | None:
        row = self._db.read_one(
            "SELECT consumer_key, name, any_org, created_at FROM apps WHERE consumer_key = ?", (consumer_key,)
        )
        return None if row is None else App(consumer_key=row[0], name=row[1], any_org=bool(row[2]), created_at=row[3])

    async def list_apps(self) -> Sequence[App]:
        rows = self._db.read_all("SELECT consumer_key, name, any_org, created_at FROM apps ORDER BY consumer_key")
        return [App(consumer_key=r[0], name=r[1], any_org=bool(r[2]), created_at=r[3]) for r in rows]

    async def delete_app(self, consumer_key: str) -> None:
        with self._db.transaction() as conn:
            # The app's secrets go with it (ON DELETE CASCADE).
            if conn.execute("DELETE FROM apps WHERE consumer_key = ?", (consumer_key,)).rowcount == 0:
                raise NotFound(f"no app with consumer key {consumer_key!r}")
            _bump(conn)

    async def app_secrets(self, consumer_key: str) -> Sequence[AppSecret]:
        rows = self._db.read_all(
            "SELECT id, secret_enc, created_at FROM app_secrets WHERE consumer_key = ? AND active = 1 ORDER BY id DESC",
            (consumer_key,),
        )
        return [
            AppSecret(
                id=sid,
                consumer_key=consumer_key,
                secret=self._box.decrypt(sealed, context=_secret_context(consumer_key, sid)).decode("utf-8"),
                created_at=created_at,
            )
            for sid, sealed, created_at in rows
        ]

    async def add_app_secret(self, consumer_key: str, secret: str, *, keep_previous: int = 1) -> AppSecret:
        secret = check_secret(secret)
        whole = isinstance(keep_previous, int) and not isinstance(keep_previous, bool)
        if not whole or not 0 <= keep_previous <= MAX_KEEP_PREVIOUS:
            raise ConfigurationError(f"keep_previous must be a whole number from 0 to {MAX_KEEP_PREVIOUS}")
        now = time.time()
        with self._db.transaction() as conn:
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
        with self._db.transaction() as conn:
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
                if others == 0:
                    # An app without an active secret refuses every Canvas request: make that a
                    # deliberate act (delete the app), not a slip during a rotation.
                    raise RegistryError(
                        f"secret {secret_id} is the only active secret of app {consumer_key!r}; add its "
                        "replacement first (or delete the app)"
                    )
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
        sealed = self._box.encrypt(secret.encode("utf-8"), context=_secret_context(consumer_key, secret_id))
        conn.execute("UPDATE app_secrets SET secret_enc = ? WHERE id = ?", (sealed, secret_id))
        return secret_id

    # --- orgs -----------------------------------------------------------------------------------------

    async def add_org(self, org: Org) -> Org:
        checked = check_org(org)
        now = time.time()
        with self._db.transaction() as conn:
            try:
                conn.execute(
                    _INSERT_ORG,
                    (
                        checked.org_id,
                        checked.name,
                        int(checked.enabled),
                        dump_strings(checked.issuers),
                        dump_strings(checked.subjects),
                        dump_strings(checked.scopes),
                        checked.policy.max_assertion_lifetime,
                        checked.policy.token_lifetime,
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                if not is_duplicate(exc):
                    raise
                raise AlreadyExists(f"org {checked.org_id} is already registered") from None
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
        policy: OrgPolicy | object = UNSET,
    ) -> Org:
        oid = canonical_org_id(org_id)
        changes: dict[str, object] = {}
        if name is not UNSET:
            changes["name"] = check_text(name, "org name")
        if enabled is not UNSET:
            if not isinstance(enabled, bool):
                raise ConfigurationError("enabled must be True or False")
            changes["enabled"] = int(enabled)
        if issuers is not UNSET:
            changes["issuers"] = dump_strings(check_strings(issuers, "issuers"))
        if subjects is not UNSET:
            changes["subjects"] = None if subjects is None else dump_strings(check_strings(subjects, "subjects"))
        if scopes is not UNSET:
            changes["scopes"] = dump_strings(check_strings(scopes, "scopes", no_spaces=True))
        if policy is not UNSET:
            checked = check_policy(policy)
            changes["max_assertion_lifetime"] = checked.max_assertion_lifetime
            changes["token_lifetime"] = checked.token_lifetime
        changes["updated_at"] = time.time()
        # Column names come from the fixed keys above, never from the caller.
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._db.transaction() as conn:
            cursor = conn.execute(f"UPDATE orgs SET {assignments} WHERE org_id = ?", (*changes.values(), oid))  # noqa: S608
            if cursor.rowcount == 0:
                raise NotFound(f"org {oid} is not registered")
            row = conn.execute(_SELECT_ORG, (oid,)).fetchone()
            _bump(conn)
        return org_from_row(row)

    async def delete_org(self, org_id: str) -> None:
        oid = canonical_org_id(org_id)
        with self._db.transaction() as conn:
            # Its certificates go with it (ON DELETE CASCADE).
            if conn.execute("DELETE FROM orgs WHERE org_id = ?", (oid,)).rowcount == 0:
                raise NotFound(f"org {oid} is not registered")
            _bump(conn)

    # --- certificates ---------------------------------------------------------------------------------

    async def add_certificate(
        self, org_id: str, certificate: x509.Certificate, *, label: str = ""
    ) -> CertificateRecord:
        oid = canonical_org_id(org_id)
        label = check_text(label, "certificate label")
        if not isinstance(certificate, x509.Certificate):
            raise ConfigurationError(f"expected an x509.Certificate, not {type(certificate).__name__}")
        der = certificate.public_bytes(Encoding.DER)
        fingerprint = hashlib.sha256(der).hexdigest()
        values = (
            oid,
            label,
            der,
            fingerprint,
            x5t_s256(certificate),
            certificate.subject.rfc4514_string(),
            certificate.not_valid_before_utc.timestamp(),
            certificate.not_valid_after_utc.timestamp(),
            "active",
            time.time(),
        )
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM orgs WHERE org_id = ?", (oid,)).fetchone() is None:
                raise NotFound(f"org {oid} is not registered")
            try:
                cursor = conn.execute(
                    "INSERT INTO certificates (org_id, label, der, sha256_fingerprint, x5t_s256, subject, not_before,"
                    " not_after, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            except sqlite3.IntegrityError as exc:
                if not is_duplicate(exc):
                    raise
                raise AlreadyExists(f"certificate {fingerprint[:16]}… is already registered for org {oid}") from None
            _bump(conn)
        return _certificate((cursor.lastrowid, *values))

    async def list_certificates(self, org_id: str, *, include_retired: bool = True) -> Sequence[CertificateRecord]:
        """The org's certificates, newest first (the one a rotation just added is tried first)."""
        where = "org_id = ?" if include_retired else "org_id = ? AND state = 'active'"
        rows = self._db.read_all(
            f"SELECT {_CERT_COLUMNS} FROM certificates WHERE {where} ORDER BY id DESC",  # noqa: S608
            (canonical_org_id(org_id),),
        )
        return [_certificate(row) for row in rows]

    async def set_certificate_state(self, org_id: str, fingerprint: str, state: CertificateState) -> CertificateRecord:
        oid = canonical_org_id(org_id)
        prefix = check_fingerprint_prefix(fingerprint)
        new_state = check_state(state)
        with self._db.transaction() as conn:
            # The prefix is hex only (checked above), so it carries no LIKE wildcard.
            rows = conn.execute(
                f"SELECT {_CERT_COLUMNS} FROM certificates WHERE org_id = ? AND sha256_fingerprint LIKE ?",  # noqa: S608
                (oid, prefix + "%"),
            ).fetchall()
            if not rows:
                raise NotFound(f"org {oid} has no certificate with fingerprint {prefix}…")
            if len(rows) > 1:
                raise RegistryError(
                    f"fingerprint prefix {prefix} matches {len(rows)} certificates of org {oid}; give more digits"
                )
            record = _certificate(rows[0])
            conn.execute("UPDATE certificates SET state = ? WHERE id = ?", (new_state, record.id))
            _bump(conn)
        return dataclasses.replace(record, state=new_state)
