"""The trust registry on PostgreSQL: apps and their consumer secrets, orgs, org certificates.

The same behaviour as :mod:`forcegate.stores.sqlite_trust`: every write runs in one transaction that
also bumps ``trust_generation``; reads of something missing return ``None`` or nothing; writes to
something missing raise :class:`NotFound`.

Each write bumps the generation FIRST: the row lock it takes serialises registry writes between
workers and hosts, as SQLite's write lock does, so a write's checks (does the org exist, is this the
app's last active secret) cannot interleave with another write. Registry writes are rare operator
actions; request-path reads take no lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence

import asyncpg
from cryptography import x509

from forcegate.errors import AlreadyExists, NotFound
from forcegate.stores import records, values
from forcegate.stores.encryption import SecretBox
from forcegate.stores.models import App, AppSecret, CertificateRecord, CertificateState, Org, OrgPolicy
from forcegate.stores.postgres_db import Connection, FreshRead, PostgresDatabase, placeholders, rowcount
from forcegate.stores.protocols import UNSET

__all__ = ["BUMP_GENERATION", "GENERATION", "PostgresTrustStore", "insert_certificates"]

_MAX_PAGE = 1000
# The interpolated names are constants, never input.
_INSERT_APP = f"INSERT INTO apps ({records.APP_COLUMNS}) VALUES ({placeholders(5)})"  # noqa: S608
_SELECT_APP = f"SELECT {records.APP_COLUMNS} FROM apps"  # noqa: S608
_INSERT_ORG = f"INSERT INTO orgs ({values.ORG_COLUMNS}) VALUES ({placeholders(values.ORG_COLUMN_COUNT)})"  # noqa: S608
_SELECT_ORG = f"SELECT {values.ORG_COLUMNS} FROM orgs WHERE org_id = $1"  # noqa: S608
_LIST_ORGS = f"SELECT {values.ORG_COLUMNS} FROM orgs WHERE org_id > $1 ORDER BY org_id LIMIT $2"  # noqa: S608
_INSERT_CERT = (
    f"INSERT INTO certificates ({records.NEW_CERT_COLUMNS}) "  # noqa: S608
    f"VALUES ({placeholders(records.NEW_CERT_COLUMN_COUNT)}) RETURNING id"
)
_SELECT_CERTS = f"SELECT {records.CERT_COLUMNS} FROM certificates WHERE org_id = $1"  # noqa: S608
#: Up to four other orgs holding a certificate, or another certificate of its key (check_sharing names three).
_OTHER_HOLDERS_BY_FINGERPRINT = "SELECT org_id FROM certificates WHERE sha256_fingerprint = $1 AND org_id <> $2 LIMIT 4"
_OTHER_HOLDERS_BY_KEY = "SELECT org_id FROM certificates WHERE key_sha256 = $1 AND org_id <> $2 LIMIT 4"
#: The hot path (every request): one primary-key lookup.
#: The registry generation (one row), also read inside a grant's statement (decision 0036).
GENERATION = "SELECT generation FROM trust_generation WHERE singleton = 1"
#: First statement of every registry write: bumps the generation and locks its row (serialising writes).
BUMP_GENERATION = "UPDATE trust_generation SET generation = generation + 1 WHERE singleton = 1"


async def insert_certificates(
    conn: Connection, oid: str, new: Sequence[tuple[object, ...]], *, shared: bool
) -> list[CertificateRecord]:
    """Trust the :func:`~forcegate.stores.records.certificate_rows` ``new`` for org ``oid`` inside the
    caller's registry write (generation locked first): the org must exist; one held by another org is
    refused unless ``shared``. The one certificate write of the registry (``certs add``, the admin API
    and an enrollment's activation)."""
    if await conn.fetchval("SELECT 1 FROM orgs WHERE org_id = $1", oid) is None:
        raise NotFound(f"org {oid} is not registered")
    added: list[CertificateRecord] = []
    for row in new:
        fingerprint, key_digest = str(row[3]), str(row[-1])
        # A few holders are enough to refuse, or to name in the refusal; a certificate shared on
        # purpose by many orgs must not cost a scan of all of them per insert.
        others = list(
            dict.fromkeys(
                [
                    *(f["org_id"] for f in await conn.fetch(_OTHER_HOLDERS_BY_FINGERPRINT, fingerprint, oid)),
                    *(f["org_id"] for f in await conn.fetch(_OTHER_HOLDERS_BY_KEY, key_digest, oid)),
                ]
            )
        )
        records.check_sharing(fingerprint, oid, others, shared=shared)
        try:
            certificate_id = await conn.fetchval(_INSERT_CERT, *row)
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"certificate {fingerprint} is already registered for org {oid}") from None
        if others:
            # Only the rows not flagged yet (partial indexes of migration 8): after the first, none.
            await conn.execute(
                "UPDATE certificates SET shared = 1 WHERE sha256_fingerprint = $1 AND shared = 0", fingerprint
            )
            await conn.execute("UPDATE certificates SET shared = 1 WHERE key_sha256 = $1 AND shared = 0", key_digest)
        added.append(records.certificate_from_row((certificate_id, *row)))
    return added


async def _bind_apps(conn: Connection, org_id: str, apps: Sequence[str], now: float) -> None:
    for key in apps:
        if await conn.fetchval("SELECT 1 FROM apps WHERE consumer_key = $1", key) is None:
            raise NotFound(f"no app with consumer key {key!r}")
        await conn.execute(
            "INSERT INTO org_apps (org_id, consumer_key, created_at) VALUES ($1, $2, $3)", org_id, key, now
        )


class PostgresTrustStore:
    """:class:`~forcegate.stores.protocols.TrustStore` on PostgreSQL; consumer secrets sealed with ``box``."""

    def __init__(self, db: PostgresDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._generation = FreshRead(self._read_generation)

    async def generation(self) -> int:
        """The registry generation, read after this call began: concurrent calls share a read
        (:class:`~forcegate.stores.postgres_db.FreshRead`), never one that began before them."""
        return await self._generation()

    async def _read_generation(self) -> int:
        return values.checked_generation(await self._db.fetchval(GENERATION))

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[Connection]:
        """A registry write's transaction, the generation bumped (and locked) first."""
        async with self._db.transaction() as conn:
            await conn.execute(BUMP_GENERATION)
            yield conn

    # --- apps -----------------------------------------------------------------------------------------

    async def add_app(
        self, *, consumer_key: str, name: str, secret: str, any_org: bool = False, canvas_name: str | None = None
    ) -> App:
        key = values.check_consumer_key(consumer_key)
        name = values.check_text(name, "app name")
        secret = values.check_secret(secret)
        flag = values.check_flag(any_org, "any_org")
        developer_name = values.check_canvas_name(canvas_name)
        now = time.time()
        async with self._write() as conn:
            try:
                await conn.execute(_INSERT_APP, key, name, flag, now, developer_name)
            except asyncpg.UniqueViolationError:
                raise AlreadyExists(f"an app with consumer key {key!r} is already registered") from None
            await self._insert_secret(conn, key, secret, now)
        return App(consumer_key=key, name=name, any_org=bool(flag), created_at=now, canvas_name=developer_name)

    async def set_canvas_name(self, consumer_key: str, canvas_name: str | None) -> App:
        developer_name = values.check_canvas_name(canvas_name)
        async with self._write() as conn:
            row = await conn.fetchrow(
                f"UPDATE apps SET canvas_name = $1 WHERE consumer_key = $2 RETURNING {records.APP_COLUMNS}",  # noqa: S608
                developer_name,
                consumer_key,
            )
            if row is None:
                raise NotFound(f"no app with consumer key {consumer_key!r}")
        return records.app_from_row(row)

    async def get_app(self, consumer_key: str) -> App | None:
        row = await self._db.fetchrow(f"{_SELECT_APP} WHERE consumer_key = $1", consumer_key)
        return None if row is None else records.app_from_row(row)

    async def list_apps(self) -> Sequence[App]:
        return [records.app_from_row(row) for row in await self._db.fetch(f"{_SELECT_APP} ORDER BY consumer_key")]

    async def delete_app(self, consumer_key: str) -> None:
        async with self._write() as conn:
            # The app's secrets go with it (ON DELETE CASCADE).
            if rowcount(await conn.execute("DELETE FROM apps WHERE consumer_key = $1", consumer_key)) == 0:
                raise NotFound(f"no app with consumer key {consumer_key!r}")

    async def app_secrets(self, consumer_key: str) -> Sequence[AppSecret]:
        rows = await self._db.fetch(
            "SELECT id, secret_enc, created_at FROM app_secrets WHERE consumer_key = $1 AND active = 1 "
            "ORDER BY id DESC",
            consumer_key,
        )
        return [records.app_secret_from_row(self._box, consumer_key, row) for row in rows]

    async def add_app_secret(self, consumer_key: str, secret: str, *, keep_previous: int = 1) -> AppSecret:
        secret = values.check_secret(secret)
        keep_previous = values.check_keep_previous(keep_previous)
        now = time.time()
        async with self._write() as conn:
            if await conn.fetchval("SELECT 1 FROM apps WHERE consumer_key = $1", consumer_key) is None:
                raise NotFound(f"no app with consumer key {consumer_key!r}")
            secret_id = await self._insert_secret(conn, consumer_key, secret, now)
            # The new secret and the keep_previous newest of the still-active older ones stay active.
            await conn.execute(
                "UPDATE app_secrets SET active = 0 WHERE consumer_key = $1 AND active = 1 AND id NOT IN ("
                "SELECT id FROM app_secrets WHERE consumer_key = $1 AND active = 1 ORDER BY id DESC LIMIT $2)",
                consumer_key,
                keep_previous + 1,
            )
        return AppSecret(id=secret_id, consumer_key=consumer_key, secret=secret, created_at=now)

    async def retire_app_secret(self, consumer_key: str, secret_id: int) -> None:
        async with self._write() as conn:
            active = await conn.fetchval(
                "SELECT active FROM app_secrets WHERE consumer_key = $1 AND id = $2", consumer_key, secret_id
            )
            if active is None:
                raise NotFound(f"app {consumer_key!r} has no secret with id {secret_id}")
            if active:
                others = await conn.fetchval(
                    "SELECT COUNT(*) FROM app_secrets WHERE consumer_key = $1 AND active = 1 AND id <> $2",
                    consumer_key,
                    secret_id,
                )
                values.check_not_last_secret(others, consumer_key, secret_id)
                await conn.execute("UPDATE app_secrets SET active = 0 WHERE id = $1", secret_id)

    async def _insert_secret(self, conn: Connection, consumer_key: str, secret: str, now: float) -> int:
        # The ciphertext is bound to the row id, which exists only after the insert.
        secret_id = int(
            await conn.fetchval(
                "INSERT INTO app_secrets (consumer_key, secret_enc, created_at, active) VALUES ($1, '', $2, 1) "
                "RETURNING id",
                consumer_key,
                now,
            )
        )
        sealed = self._box.encrypt(secret.encode("utf-8"), context=records.secret_context(consumer_key, secret_id))
        await conn.execute("UPDATE app_secrets SET secret_enc = $1 WHERE id = $2", sealed, secret_id)
        return secret_id

    # --- orgs -----------------------------------------------------------------------------------------

    async def add_org(self, org: Org, *, apps: Sequence[str] = ()) -> Org:
        checked = values.check_org(org)
        bound = values.check_apps(apps)
        now = time.time()
        async with self._write() as conn:
            try:
                await conn.execute(_INSERT_ORG, *values.org_values(checked, now))
            except asyncpg.UniqueViolationError:
                raise AlreadyExists(f"org {checked.org_id} is already registered") from None
            await _bind_apps(conn, checked.org_id, bound, now)
        return dataclasses.replace(checked, created_at=now, updated_at=now)

    async def get_org(self, org_id: str) -> Org | None:
        row = await self._db.fetchrow(_SELECT_ORG, values.canonical_org_id(org_id))
        return None if row is None else values.org_from_row(row)

    async def list_orgs(self, *, limit: int = 1000, after: str | None = None) -> Sequence[Org]:
        rows = await self._db.fetch(_LIST_ORGS, after or "", max(0, min(limit, _MAX_PAGE)))
        return [values.org_from_row(row) for row in rows]

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
        oid = values.canonical_org_id(org_id)
        bound = None if apps is UNSET else values.check_apps(apps)
        changes = values.org_changes(
            name=name,
            enabled=enabled,
            issuers=issuers,
            subjects=subjects,
            scopes=scopes,
            algorithms=algorithms,
            policy=policy,
        )
        # Column names are org_changes' fixed keys, never the caller's.
        assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, start=2))
        async with self._write() as conn:
            row = await conn.fetchrow(
                f"UPDATE orgs SET {assignments} WHERE org_id = $1 RETURNING {values.ORG_COLUMNS}",  # noqa: S608
                oid,
                *changes.values(),
            )
            if row is None:
                raise NotFound(f"org {oid} is not registered")
            if bound is not None:
                await conn.execute("DELETE FROM org_apps WHERE org_id = $1", oid)
                await _bind_apps(conn, oid, bound, time.time())
        return values.org_from_row(row)

    async def bind_app(self, org_id: str, consumer_key: str) -> None:
        oid = values.canonical_org_id(org_id)
        (key,) = values.check_apps((consumer_key,))
        async with self._write() as conn:
            if await conn.fetchval("SELECT 1 FROM orgs WHERE org_id = $1", oid) is None:
                raise NotFound(f"org {oid} is not registered")
            if await conn.fetchval("SELECT 1 FROM org_apps WHERE org_id = $1 AND consumer_key = $2", oid, key):
                return
            await _bind_apps(conn, oid, (key,), time.time())

    async def org_apps(self, org_id: str) -> Sequence[str]:
        rows = await self._db.fetch(
            "SELECT consumer_key FROM org_apps WHERE org_id = $1 ORDER BY consumer_key", values.canonical_org_id(org_id)
        )
        return [row["consumer_key"] for row in rows]

    async def app_orgs(self, consumer_key: str, *, limit: int = 1000, after: str | None = None) -> Sequence[str]:
        rows = await self._db.fetch(
            "SELECT org_id FROM org_apps WHERE consumer_key = $1 AND org_id > $2 ORDER BY org_id LIMIT $3",
            consumer_key,
            after or "",
            max(0, min(limit, _MAX_PAGE)),
        )
        return [row["org_id"] for row in rows]

    async def app_binding_counts(self) -> dict[str, int]:
        rows = await self._db.fetch("SELECT consumer_key, COUNT(*) AS bound FROM org_apps GROUP BY consumer_key")
        return {row["consumer_key"]: int(row["bound"]) for row in rows}

    async def delete_org(self, org_id: str) -> None:
        oid = values.canonical_org_id(org_id)
        async with self._write() as conn:
            # Its certificates go with it (ON DELETE CASCADE).
            if rowcount(await conn.execute("DELETE FROM orgs WHERE org_id = $1", oid)) == 0:
                raise NotFound(f"org {oid} is not registered")

    # --- certificates ---------------------------------------------------------------------------------

    async def add_certificate(
        self, org_id: str, certificate: x509.Certificate, *, label: str = "", shared: bool = False
    ) -> CertificateRecord:
        (record,) = await self.add_certificates(org_id, [(certificate, label)], shared=shared)
        return record

    async def add_certificates(
        self, org_id: str, certificates: Sequence[tuple[x509.Certificate, str]], *, shared: bool = False
    ) -> Sequence[CertificateRecord]:
        oid = values.canonical_org_id(org_id)
        new = records.certificate_rows(oid, certificates, time.time(), shared=values.check_flag(shared, "shared"))
        # The generation's row lock (taken first by _write) serialises this check with every other
        # registry write, so two orgs adding the same certificate at once cannot both miss each other.
        async with self._write() as conn:
            return await insert_certificates(conn, oid, new, shared=shared)

    async def certificate_holders(self, fingerprint: str, *, key_sha256: str | None = None) -> Sequence[str]:
        rows = await self._db.fetch(
            "SELECT DISTINCT org_id FROM certificates WHERE sha256_fingerprint = $1 OR key_sha256 = $2 ORDER BY org_id",
            fingerprint,
            key_sha256,
        )
        return [row["org_id"] for row in rows]

    async def certificates_expiring(self, before: Sequence[float]) -> Sequence[int]:
        if not before:
            return []
        counts = ", ".join(f"COUNT(*) FILTER (WHERE c.not_after < ${i})" for i in range(1, len(before) + 1))
        row = await self._db.fetchrow(
            f"SELECT {counts} FROM certificates c JOIN orgs o ON o.org_id = c.org_id "  # noqa: S608 - placeholders only
            "WHERE c.state = 'active' AND c.retire_at IS NULL AND o.enabled = 1",
            *(float(t) for t in before),
        )
        assert row is not None  # an aggregate always yields one row
        return [int(n) for n in row.values()]

    async def expiring_certificates(self, before: float, *, limit: int = 1000) -> Sequence[CertificateRecord]:
        columns = ", ".join(f"c.{name.strip()}" for name in records.CERT_COLUMNS.split(","))
        rows = await self._db.fetch(
            f"SELECT {columns} FROM certificates c JOIN orgs o ON o.org_id = c.org_id "  # noqa: S608 - constants only
            "WHERE c.state = 'active' AND c.retire_at IS NULL AND o.enabled = 1 "
            "AND c.not_after < $1 ORDER BY c.not_after, c.id LIMIT $2",
            float(before),
            max(0, min(limit, _MAX_PAGE)),
        )
        return [records.certificate_from_row(row) for row in rows]

    async def list_certificates(self, org_id: str, *, include_retired: bool = True) -> Sequence[CertificateRecord]:
        """The org's certificates, newest first (the one a rotation just added is tried first)."""
        only_active = "" if include_retired else " AND state = 'active'"
        rows = await self._db.fetch(f"{_SELECT_CERTS}{only_active} ORDER BY id DESC", values.canonical_org_id(org_id))
        return [records.certificate_from_row(row) for row in rows]

    async def set_certificate_state(self, org_id: str, fingerprint: str, state: CertificateState) -> CertificateRecord:
        oid = values.canonical_org_id(org_id)
        prefix = values.check_fingerprint_prefix(fingerprint)
        new_state = values.check_state(state)
        async with self._write() as conn:
            # The prefix is hex only (checked above), so it carries no LIKE wildcard.
            rows = await conn.fetch(f"{_SELECT_CERTS} AND sha256_fingerprint LIKE $2", oid, prefix + "%")
            record = records.the_certificate(rows, oid, prefix)
            # A retirement or reactivation by hand ends any overlap a rotation scheduled.
            await conn.execute(
                "UPDATE certificates SET state = $1, retire_at = NULL WHERE id = $2", new_state, record.id
            )
        return dataclasses.replace(record, state=new_state, retire_at=None)

    async def retire_due_certificates(self, now: float) -> int:
        # Every worker runs this each purge round: look first, so a round with nothing due does not
        # bump the generation (which would drop every worker's registry cache).
        due = await self._db.fetchval(
            "SELECT 1 FROM certificates WHERE state = 'active' AND retire_at <= $1 LIMIT 1", float(now)
        )
        if due is None:
            return 0
        async with self._write() as conn:
            status = await conn.execute(
                "UPDATE certificates SET state = 'retired' WHERE state = 'active' AND retire_at <= $1", float(now)
            )
        return int(status.split()[-1])
