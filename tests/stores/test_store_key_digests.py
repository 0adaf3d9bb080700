"""Never shared by key: a certificate of a key another org holds is refused like the same certificate
(unless registered as shared, which flags every certificate of that key); rows stored before schema
version 8 get their key digest when the store opens."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from forcegate.errors import CertificateShared
from forcegate.stores import Org, Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.key_digests import key_sha256
from forcegate.stores.postgres import open_postgres_stores
from forcegate.stores.sqlite import open_sqlite_stores
from helpers import self_signed
from stores.stores_support import ORG, OTHER_ORG, run

KEY = ec.generate_private_key(ec.SECP256R1())
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FIRST = self_signed(KEY, cn="first", start=START)
REISSUED = self_signed(KEY, cn="reissued", start=START, days=400)  # another certificate, the same key


def two_orgs(stores: Stores) -> None:
    run(stores.trust.add_org(Org(org_id=ORG)))
    run(stores.trust.add_org(Org(org_id=OTHER_ORG)))


def test_another_certificate_of_a_held_key_is_refused(stores: Stores) -> None:
    two_orgs(stores)
    (first,) = run(stores.trust.add_certificates(ORG, [(FIRST, "first")]))
    assert first.key_sha256 == key_sha256(FIRST) == key_sha256(REISSUED)
    generation = run(stores.trust.generation())
    with pytest.raises(CertificateShared, match="another certificate of its key"):
        run(stores.trust.add_certificates(OTHER_ORG, [(REISSUED, "reissued")]))
    assert run(stores.trust.list_certificates(OTHER_ORG)) == []
    assert run(stores.trust.generation()) == generation
    assert run(stores.trust.certificate_holders(first.sha256_fingerprint)) == [ORG]
    reissued_fingerprint = run(stores.trust.add_certificates(ORG, [(REISSUED, "r")]))[0].sha256_fingerprint
    assert run(stores.trust.certificate_holders(reissued_fingerprint)) == [ORG]  # the same org may hold both
    assert run(stores.trust.certificate_holders("0" * 64, key_sha256=key_sha256(FIRST))) == [ORG]


def test_sharing_a_key_on_purpose_flags_every_certificate_of_it(stores: Stores) -> None:
    two_orgs(stores)
    run(stores.trust.add_certificates(ORG, [(FIRST, "first")]))
    (reissued,) = run(stores.trust.add_certificates(OTHER_ORG, [(REISSUED, "reissued")], shared=True))
    assert reissued.shared
    assert [c.shared for c in run(stores.trust.list_certificates(ORG))] == [True]


def test_sqlite_rows_without_a_digest_get_one_when_the_store_opens(tmp_path: Path) -> None:
    box, path = SecretBox(os.urandom(32)), str(tmp_path / "forcegate.db")
    stores = run(open_sqlite_stores(path, box=box))
    two_orgs(stores)
    run(stores.trust.add_certificates(ORG, [(FIRST, "first")]))
    run(stores.close())
    with sqlite3.connect(path) as conn:  # as a version-7 database left it
        conn.execute("UPDATE certificates SET key_sha256 = NULL")
    stores = run(open_sqlite_stores(path, box=box))
    try:
        assert [c.key_sha256 for c in run(stores.trust.list_certificates(ORG))] == [key_sha256(FIRST)]
        with pytest.raises(CertificateShared):
            run(stores.trust.add_certificates(OTHER_ORG, [(REISSUED, "reissued")]))
    finally:
        run(stores.close())


def test_postgres_rows_without_a_digest_get_one_when_the_store_opens(pg_url: str) -> None:
    box = SecretBox(os.urandom(32))
    stores = run(open_postgres_stores(pg_url, box=box))
    two_orgs(stores)
    run(stores.trust.add_certificates(ORG, [(FIRST, "first")]))
    run(stores.close())

    async def forget() -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute("UPDATE certificates SET key_sha256 = NULL")
        finally:
            await conn.close()

    run(forget())
    stores = run(open_postgres_stores(pg_url, box=box))
    try:
        assert [c.key_sha256 for c in run(stores.trust.list_certificates(ORG))] == [key_sha256(FIRST)]
        with pytest.raises(CertificateShared):
            run(stores.trust.add_certificates(OTHER_ORG, [(REISSUED, "reissued")]))
    finally:
        run(stores.close())


def test_one_more_org_sharing_a_certificate_visits_only_unflagged_rows(tmp_path: Path) -> None:
    """A certificate shared on purpose by many orgs: registering one more looks at a few holders and
    flags only the rows not flagged yet, through the partial indexes (it was a scan of every holder)."""
    from forcegate.stores import sqlite_trust

    stores = run(open_sqlite_stores(str(tmp_path / "forcegate.db"), box=SecretBox(os.urandom(32))))
    run(stores.close())
    queries = {
        "flag by fingerprint": sqlite_trust._FLAG_SHARED_BY_FINGERPRINT,
        "flag by key": sqlite_trust._FLAG_SHARED_BY_KEY,
        "holders by fingerprint": sqlite_trust._OTHER_HOLDERS_BY_FINGERPRINT,
        "holders by key": sqlite_trust._OTHER_HOLDERS_BY_KEY,
    }
    with sqlite3.connect(tmp_path / "forcegate.db") as conn:
        plans = {
            name: " ".join(
                str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("x", "y")[: sql.count("?")])
            )
            for name, sql in queries.items()
        }
    assert "certificates_unshared_by_fingerprint" in plans["flag by fingerprint"]
    assert "certificates_unshared_by_key" in plans["flag by key"]
    assert "USING" in plans["holders by fingerprint"]
    assert "USING" in plans["holders by key"]
    assert not any(plan.startswith("SCAN certificates") for plan in plans.values()), plans
