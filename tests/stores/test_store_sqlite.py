"""What only the SQLite backend can show: the file's bytes, its pragmas, several processes, locking, migrations."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from forcegate.errors import ConfigurationError, RegistryError, StoreUnavailable
from forcegate.settings import Settings
from forcegate.stores import Org, SigningKey, Stores, open_stores, sqlite_db
from forcegate.stores.encryption import SecretBox
from forcegate.stores.migrate import MigratePolicy, latest_version
from forcegate.stores.sqlite import open_sqlite_stores
from forcegate.stores.sqlite_db import SqliteDatabase
from stores.stores_support import NOW, ORG, certificate, run

KEY = bytes(range(32))


@contextmanager
def opened(path: Path, *, key: bytes = KEY, migrate: MigratePolicy = "upgrade") -> Iterator[Stores]:
    handle = run(open_sqlite_stores(str(path), box=SecretBox(key), migrate=migrate))
    try:
        yield handle
    finally:
        run(handle.close())


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, as an attacker with a copy of the file (or a test) would use."""
    return sqlite3.connect(path, isolation_level=None)


def file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def all_values(path: Path) -> str:
    with closing(raw(path)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return repr([conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables])  # noqa: S608


# --- at rest -----------------------------------------------------------------------------------------


def test_secrets_are_not_stored_in_the_clear(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    consumer_secret = "consumer-secret-PLAINTEXT-0001"
    rotated_secret = "consumer-secret-PLAINTEXT-0002"
    admin_token = "admin-token-PLAINTEXT-0003"
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem_body = b"".join(pem.splitlines()[1:-1])
    with opened(path) as stores:
        run(stores.trust.add_app(consumer_key="ck-at-rest", name="App", secret=consumer_secret))
        run(stores.trust.add_app_secret("ck-at-rest", rotated_secret))
        run(stores.keys.add_signing_key(SigningKey(kid="kid-1", algorithm="ES256", private_pem=pem, created_at=NOW)))
        run(stores.keys.set_admin_token(admin_token))
        forbidden = [consumer_secret.encode(), rotated_secret.encode(), admin_token.encode(), pem_body[:32], der]
        while_open = file_bytes(path)
        assert b"ck-at-rest" in while_open  # the scan does see plaintext columns
        assert not [f for f in forbidden if f in while_open]
    after_close = file_bytes(path)
    assert not [f for f in forbidden if f in after_close]
    values = all_values(path)
    assert not [f for f in forbidden if f.decode("latin-1") in values]
    assert base64.b64encode(der).decode()[:40] not in values
    assert hashlib.sha256(admin_token.encode()).hexdigest() in values  # only the digest is kept
    with opened(path) as stores:
        assert [s.secret for s in run(stores.trust.app_secrets("ck-at-rest"))] == [rotated_secret, consumer_secret]
        assert run(stores.keys.signing_keys())[0].private_pem == pem


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    with opened(path) as stores:
        run(stores.trust.add_app(consumer_key="victim", name="A", secret="victim-secret"))
        run(stores.trust.add_app(consumer_key="attacker", name="B", secret="attacker-secret"))
    with closing(raw(path)) as conn:
        (sealed,) = conn.execute("SELECT secret_enc FROM app_secrets WHERE consumer_key = 'victim'").fetchone()
        conn.execute("UPDATE app_secrets SET secret_enc = ? WHERE consumer_key = 'attacker'", (sealed,))
    with opened(path) as stores:
        with pytest.raises(ConfigurationError, match="failed authentication"):
            run(stores.trust.app_secrets("attacker"))
        assert [s.secret for s in run(stores.trust.app_secrets("victim"))] == ["victim-secret"]


def test_a_different_key_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    with opened(path) as stores:
        run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    with pytest.raises(ConfigurationError, match="encrypted with a different key"):
        run(open_sqlite_stores(str(path), box=SecretBox(bytes(32))))
    with opened(path) as stores:  # the right key still works, nothing was changed by the refusal
        assert [s.secret for s in run(stores.trust.app_secrets("ck"))] == ["s1"]


def test_open_stores_from_settings_creates_and_reuses_the_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    stores = run(open_stores(settings))
    try:
        run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
    finally:
        run(stores.close())
    assert (tmp_path / "data" / "encryption.key").exists()
    assert (tmp_path / "data" / "forcegate.db").exists()
    stores = run(open_stores(settings))
    try:
        assert [s.secret for s in run(stores.trust.app_secrets("ck"))] == ["s1"]
    finally:
        run(stores.close())
    wrong = Settings(data_dir=tmp_path / "data", encryption_key=base64.urlsafe_b64encode(bytes(32)).decode())
    with pytest.raises(ConfigurationError, match="different key"):
        run(open_stores(wrong))


# --- the file and the connection ---------------------------------------------------------------------


def test_the_directory_and_file_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "forcegate.db"
    with opened(path):
        pass
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with closing(raw(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_connection_settings(tmp_path: Path) -> None:
    db = SqliteDatabase.open(str(tmp_path / "forcegate.db"))
    try:
        conn = db.connection
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.isolation_level is None
    finally:
        db.close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="not a database"):
        run(open_sqlite_stores(str(path), box=SecretBox(KEY)))


def test_a_locked_database_fails_closed_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "forcegate.db"
    with opened(path) as stores, closing(raw(path)) as holder:
        holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        with pytest.raises(StoreUnavailable, match="locked"):
            run(stores.replay.claim("k", time.time() + 60))
        with pytest.raises(StoreUnavailable, match="locked"):
            run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
        generation = run(stores.trust.generation())  # WAL: readers are not blocked by the writer
        holder.execute("ROLLBACK")
        assert run(stores.trust.get_app("ck")) is None
        assert run(stores.trust.generation()) == generation
        assert run(stores.replay.claim("k", time.time() + 60)) is True


def test_a_write_failing_midway_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with opened(tmp_path / "forcegate.db") as stores:
        generation = run(stores.trust.generation())

        def fail(self: SecretBox, plaintext: bytes, *, context: str) -> str:
            raise RuntimeError("simulated failure after the app row was inserted")

        monkeypatch.setattr(SecretBox, "encrypt", fail)
        with pytest.raises(RuntimeError, match="simulated"):
            run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
        assert run(stores.trust.get_app("ck")) is None
        assert run(stores.trust.generation()) == generation


def test_check_reports_a_broken_schema_without_raising(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    with opened(path) as stores:
        with closing(raw(path)) as conn:
            conn.execute("DROP TABLE trust_generation")
        assert run(stores.check()) == {"database": "no such table: trust_generation"}
        with pytest.raises(StoreUnavailable, match="no such table"):
            run(stores.trust.generation())


def test_an_ambiguous_fingerprint_prefix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    with opened(path) as stores:
        run(stores.trust.add_org(Org(org_id=ORG)))
        first = run(stores.trust.add_certificate(ORG, certificate("one")))
        second = run(stores.trust.add_certificate(ORG, certificate("two")))
        # A real 32-bit prefix collision is too rare to wait for: make one.
        differs = "0" if first.sha256_fingerprint[10] != "0" else "1"
        twin = first.sha256_fingerprint[:10] + differs + second.sha256_fingerprint[11:]
        with closing(raw(path)) as conn:
            conn.execute("UPDATE certificates SET sha256_fingerprint = ? WHERE id = ?", (twin, second.id))
        with pytest.raises(RegistryError, match="matches 2 certificates"):
            run(stores.trust.set_certificate_state(ORG, first.sha256_fingerprint[:10], "retired"))
        retired = run(stores.trust.set_certificate_state(ORG, first.sha256_fingerprint[:11], "retired"))
        assert retired.id == first.id


# --- migrations at open ------------------------------------------------------------------------------


def test_migrate_check_refuses_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    with pytest.raises(ConfigurationError, match=f"schema version 0; this forcegate needs version {latest_version()}"):
        run(open_sqlite_stores(str(path), box=SecretBox(KEY), migrate="check"))
    with opened(path):
        pass
    with opened(path, migrate="check") as stores:
        assert run(stores.check()) == {"database": "ok"}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    with opened(path):
        pass
    with closing(raw(path)) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
    policies: tuple[MigratePolicy, ...] = ("upgrade", "create", "check")
    for migrate in policies:
        with pytest.raises(ConfigurationError, match=r"999.*upgrade forcegate"):
            run(open_sqlite_stores(str(path), box=SecretBox(KEY), migrate=migrate))


# --- several processes -------------------------------------------------------------------------------

WORKER = """
import asyncio, json, os, sys, time
from forcegate.stores.encryption import SecretBox, parse_key
from forcegate.stores.sqlite import open_sqlite_stores

async def main(path, key, mode, go):
    stores = await open_sqlite_stores(path, box=SecretBox(parse_key(key)))
    try:
        if mode == "read":
            org = await stores.trust.get_org(go)
            secrets = [s.secret for s in await stores.trust.app_secrets("ck")]
            print(json.dumps({"org": org and org.name, "secrets": secrets, "gen": await stores.trust.generation()}))
            return
        print("ready", flush=True)
        deadline = time.time() + 60  # never outlive a test that failed before starting the race
        while not os.path.exists(go):
            if time.time() > deadline:
                sys.exit(3)
            time.sleep(0.001)
        won = [k for k in (f"jti-{i}" for i in range(200)) if await stores.replay.claim(k, time.time() + 300)]
        print(json.dumps(won))
    finally:
        await stores.close()

asyncio.run(main(*sys.argv[1:]))
"""


def worker(path: Path, mode: str, arg: str) -> subprocess.Popen[str]:
    key = base64.urlsafe_b64encode(KEY).decode()
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), key, mode, arg], stdout=subprocess.PIPE, text=True
    )


def test_another_process_sees_writes(tmp_path: Path) -> None:
    path = tmp_path / "forcegate.db"
    with opened(path) as stores:
        run(stores.trust.add_org(Org(org_id=ORG, name="Acme")))
        run(stores.trust.add_app(consumer_key="ck", name="App", secret="s1"))
        with worker(path, "read", ORG) as process:
            out, _ = process.communicate(timeout=60)
        assert json.loads(out) == {"org": "Acme", "secrets": ["s1"], "gen": run(stores.trust.generation())}


def test_two_processes_racing_claim_each_key_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "forcegate.db"  # both processes also race to create and migrate it
    go = tmp_path / "go"
    with worker(path, "claim", str(go)) as first, worker(path, "claim", str(go)) as second:
        processes = [first, second]
        try:
            for process in processes:
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "ready"
        finally:
            go.touch()  # start the race, or release the workers if a check above failed
        results = [json.loads(process.communicate(timeout=60)[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)
    assert sorted(results[0] + results[1]) == sorted(f"jti-{i}" for i in range(200))
    assert not set(results[0]) & set(results[1])
    with closing(raw(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone() == (latest_version(),)
