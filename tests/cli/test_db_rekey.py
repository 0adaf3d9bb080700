"""``forcegate db rekey``: the encryption-key rotation ``NEW,OLD`` -> rekey -> ``NEW``, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from forcegate.errors import ConfigurationError
from forcegate.service.bootstrap import bootstrap
from forcegate.settings import load_settings
from forcegate.stores.encryption import KEY_FILE_NAME, SecretBox, parse_key
from forcegate.stores.opening import open_stores
from forcegate.stores.schema import upgrade_schema
from forcegate.stores.sqlite import open_sqlite_stores
from helpers import Runner
from server.backends import shared_backend

SECRET = "consumer-secret-of-the-app"


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def key_id(key: str) -> str:
    return SecretBox(parse_key(key)).key_id


def use_key(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FORCEGATE_ENCRYPTION_KEY", value)


def populate(forcegate: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a deployment holds: a signing key, the key check, a Connected App's consumer secret."""
    asyncio.run(bootstrap(load_settings()))
    monkeypatch.setenv("APP_SECRET", SECRET)
    outcome = forcegate("apps", "add", "ck_app", "--secret-env", "APP_SECRET")
    assert outcome.code == 0, outcome.err


def secrets_open() -> tuple[list[str], int]:
    """Open the configured stores (the start-up key check included) and read every secret back."""

    async def read() -> tuple[list[str], int]:
        stores = await open_stores(load_settings(), migrate="check")
        try:
            secrets = [s.secret for s in await stores.trust.app_secrets("ck_app")]
            return secrets, len(await stores.keys.signing_keys())
        finally:
            await stores.close()

    return asyncio.run(read())


def check_rotation(forcegate: Runner, monkeypatch: pytest.MonkeyPatch, old: str) -> None:
    """Steps 1-3 of the procedure, on whatever database the environment names (sealed under ``old``)."""
    new = new_key()
    use_key(monkeypatch, f"{new},{old}")  # 1) every worker runs with NEW,OLD
    assert secrets_open() == ([SECRET], 1)
    outcome = forcegate("db", "rekey")  # 2) re-seal
    assert outcome.code == 0, outcome.err
    # A consumer secret, a signing key and the key-check value.
    assert outcome.out == f"re-sealed 3 of 3 stored secret(s) with encryption key {key_id(new)}\n"
    for key in (new, old):
        assert key not in outcome.out + outcome.err
    assert SECRET not in outcome.out + outcome.err
    again = forcegate("db", "rekey", "--json")
    view = json.loads(again.out)
    assert str(view.pop("store")).endswith(("(SQLite)", "(PostgreSQL)"))
    assert view == {"key_id": key_id(new), "resealed": 0, "total": 3}
    use_key(monkeypatch, new)  # 3) NEW alone
    assert secrets_open() == ([SECRET], 1)
    use_key(monkeypatch, old)  # and the old key alone opens nothing any more: refused at start
    with pytest.raises(ConfigurationError, match=r"failed its encryption key check: .*encrypted with a different key"):
        secrets_open()
    refused = forcegate("apps", "list")
    assert refused.code == 2
    assert refused.err.startswith("forcegate: configuration_error: ")


def test_rekey_on_sqlite(forcegate: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    old = new_key()
    use_key(monkeypatch, old)
    populate(forcegate, monkeypatch)
    check_rotation(forcegate, monkeypatch, old)


def test_rekey_from_the_generated_key_file(forcegate: Runner, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    populate(forcegate, monkeypatch)  # the embedded default: no key set, a generated key file
    old = (data_dir / KEY_FILE_NAME).read_text().strip()
    check_rotation(forcegate, monkeypatch, old)


@pytest.fixture
def postgresql(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL schema as the configured database; its encryption key is returned."""
    with shared_backend(with_redis=False) as backend:
        for name, value in backend.environ().items():
            monkeypatch.setenv(name, value)
        yield backend.encryption_key


def test_rekey_on_postgresql(forcegate: Runner, monkeypatch: pytest.MonkeyPatch, postgresql: str) -> None:
    populate(forcegate, monkeypatch)
    assert load_settings().effective_database_url.startswith("postgresql://")
    check_rotation(forcegate, monkeypatch, postgresql)


def _sealed_values(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT secret_enc FROM app_secrets UNION ALL SELECT private_pem_enc FROM signing_keys "
            "UNION ALL SELECT value FROM store_meta"
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


def test_a_secret_no_configured_key_opens_refuses_the_run_and_changes_nothing(
    forcegate: Runner, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    old, stray = new_key(), new_key()
    use_key(monkeypatch, old)
    populate(forcegate, monkeypatch)
    database = data_dir / "forcegate.db"

    async def add_under_stray_key() -> None:
        # A worker configured with a key this operator does not know of sealed one more secret.
        stores = await open_sqlite_stores(str(database), box=SecretBox(parse_key(stray), parse_key(old)))
        try:
            await stores.trust.add_app(consumer_key="ck_stray", name="Stray", secret="stray-secret")
        finally:
            await stores.close()

    asyncio.run(add_under_stray_key())
    before = _sealed_values(database)
    use_key(monkeypatch, f"{new_key()},{old}")
    outcome = forcegate("db", "rekey")
    assert outcome.code == 2
    assert outcome.out == ""
    assert outcome.err.startswith("forcegate: configuration_error: cannot re-seal, nothing was changed: ")
    assert f"key id '{key_id(stray)}'" in outcome.err
    assert stray not in outcome.err
    assert "stray-secret" not in outcome.err
    assert _sealed_values(database) == before


def test_rekey_needs_a_store(forcegate: Runner, tmp_path: Path) -> None:
    outcome = forcegate("db", "rekey", "--data-dir", str(tmp_path / "none"))
    assert outcome.code == 2
    assert outcome.err.startswith(f"forcegate: no_store: no forcegate store at {tmp_path / 'none'} ")
    assert not (tmp_path / "none").exists(), "not even the encryption key file"


def test_rekey_refuses_an_outdated_schema(forcegate: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(tmp_path / "old"))
    asyncio.run(upgrade_schema(load_settings(), target=1))  # as a forcegate of schema version 1 left it
    outcome = forcegate("db", "rekey")
    assert outcome.code == 2
    assert "run `forcegate db upgrade`" in outcome.err
