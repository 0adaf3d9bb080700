"""``forcegate db status|upgrade``, and ``serve`` refusing an outdated schema unless told to migrate.

The autouse ``data_dir`` fixture gives every CLI test a current store; the tests of other versions
build theirs in a fresh folder (``fresh``) with the migration runner, as an older forcegate left it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forcegate.service.bootstrap import bootstrap
from forcegate.settings import load_settings
from forcegate.stores import migrate, open_stores
from forcegate.stores.redis_state import redis_key
from forcegate.stores.schema import schema_state, upgrade_schema
from helpers import Runner
from server.backends import shared_backend
from stores import redis_support

LATEST = migrate.latest_version()


def _status(forcegate: Runner) -> dict[str, object]:
    result = forcegate("db", "status", "--json")
    status: dict[str, object] = json.loads(result.out)
    status["exit"] = result.code
    return status


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FORCEGATE_DATA_DIR pointing to a folder with no store."""
    folder = tmp_path / "fresh"
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(folder))
    return folder


def _schema_at(version: int) -> None:
    """The schema as a forcegate of that version left it (the commands themselves never create one)."""
    asyncio.run(upgrade_schema(load_settings(), target=version))


@pytest.mark.parametrize(
    "command",
    [("db", "status"), ("db", "status", "--json"), ("db", "upgrade"), ("db", "rekey"), ("db", "copy-revocations")],
)
def test_no_store_is_said_and_nothing_is_created(forcegate: Runner, fresh: Path, command: tuple[str, ...]) -> None:
    # Issue 16: `FORCEGATE_DATA_DIR=/nonexistent forcegate db status` said "outdated".
    result = forcegate(*command)
    assert (result.code, result.out) == (2, "")
    assert (
        result.err == f"forcegate: no_store: no forcegate store at {fresh} (run forcegate init, or give --data-dir)\n"
    )
    assert not fresh.exists()


def test_status_and_upgrade_of_a_current_store(forcegate: Runner, data_dir: Path, store_line: str) -> None:
    assert _status(forcegate) == {
        "backend": "sqlite",
        "current": LATEST,
        "latest": LATEST,
        "status": "up to date",
        "store": f"{data_dir.resolve()} (SQLite)",
        "exit": 0,
    }
    status = forcegate("db", "status")
    assert (status.code, status.err) == (0, store_line)
    again = forcegate("db", "upgrade")
    assert again.out.strip() == f"nothing to do; schema version is {LATEST}"
    assert again.err == store_line


def test_serve_refuses_an_outdated_schema_unless_told_to_migrate(forcegate: Runner, fresh: Path) -> None:
    _schema_at(1)
    result = forcegate("serve", "--port", "1")
    assert result.code == 2
    assert f"has schema version 1; this forcegate needs version {LATEST}: run `forcegate db upgrade`" in result.err
    assert _status(forcegate)["current"] == 1, "the refused start changed nothing"
    # Registry commands refuse too, rather than upgrade a schema running servers still use.
    assert forcegate("orgs", "list").code == 2
    # `serve --migrate` (FORCEGATE_MIGRATE=1) upgrades first: what its start-up runs, here without the server.
    asyncio.run(bootstrap(load_settings(migrate=True)))
    assert _status(forcegate)["current"] == LATEST


def test_serve_sets_up_a_new_database_by_itself(data_dir: Path) -> None:
    result = asyncio.run(bootstrap(load_settings()))
    assert result.admin_token
    assert asyncio.run(schema_state(load_settings())).current == LATEST


def test_a_newer_database_is_refused(forcegate: Runner, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrate, "latest_version", lambda: LATEST - 1)
    status = _status(forcegate)
    assert (status["status"], status["exit"]) == ("newer", 1)
    result = forcegate("orgs", "list")
    assert result.code == 2
    assert "upgrade forcegate" in result.err


@pytest.fixture
def postgresql(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with shared_backend(with_redis=False) as backend:
        for name, value in backend.environ().items():
            monkeypatch.setenv(name, value)
        yield


@pytest.mark.usefixtures("data_dir", "postgresql")
def test_status_and_upgrade_on_postgresql(forcegate: Runner) -> None:
    empty = forcegate("db", "status", "--json")
    assert empty.code == 2
    assert empty.err.startswith("forcegate: no_store: no forcegate store at postgresql://")
    assert empty.err.endswith(" (run forcegate init)\n")
    _schema_at(2)
    assert _status(forcegate)["current"] == 2
    refused = forcegate("serve", "--port", "1")
    assert refused.code == 2
    assert "run `forcegate db upgrade`" in refused.err
    result = forcegate("db", "upgrade")
    assert (
        result.out.strip()
        == f"applied migration(s) {', '.join(map(str, range(3, LATEST + 1)))}; schema version is now {LATEST}"
    )
    assert _status(forcegate)["status"] == "up to date"


def test_upgrading_to_6_binds_each_canvas_app_to_the_orgs_it_could_reach(
    forcegate: Runner, fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upgrades must not cut a working deployment off: before version 6 an app's secret reached every
    registered org; after it, exactly those orgs are bound, and apps bound to several are named."""
    _schema_at(5)
    # A deployment at version 5 (the commands refuse an outdated schema: written as version 5 would).
    with sqlite3.connect(fresh / "forcegate.db") as conn:
        for org in ("00D5g000004ABCDEA4", "00D5g000004XYZWEA4"):
            conn.execute("INSERT INTO orgs (org_id, created_at, updated_at) VALUES (?, 0, 0)", (org,))
        conn.execute("INSERT INTO apps (consumer_key, name, created_at) VALUES ('3MVG9_a', '', 0)")
    upgraded = forcegate("db", "upgrade")
    assert upgraded.code == 0, upgraded.err
    assert "Canvas app 3MVG9_a is bound to 2 orgs" in upgraded.err
    shown = json.loads(forcegate("apps", "show", "3MVG9_a", "--json").out)
    assert shown["bound_orgs"] == 2
    # A new org trusts no app until it is bound explicitly.
    assert forcegate("orgs", "add", "00D5g000004QQQQ").code == 0
    assert json.loads(forcegate("orgs", "show", "00D5g000004QQQQ", "--json").out)["apps"] == []
    monkeypatch.setenv("FG_SECRET_B", "canvas-consumer-secret-b")
    assert forcegate("apps", "add", "3MVG9_b", "--secret-env", "FG_SECRET_B").code == 0
    assert json.loads(forcegate("apps", "show", "3MVG9_b", "--json").out)["bound_orgs"] == 0


# --- copy-revocations (decision 0032) -------------------------------------------------------------------


@pytest.mark.usefixtures("data_dir")
def test_copy_revocations_has_nothing_to_copy_without_redis(forcegate: Runner, store_line: str) -> None:
    result = forcegate("db", "copy-revocations")
    assert (result.code, result.out, result.err) == (
        0,
        "nothing to copy: this deployment keeps no revocations on Redis\n",
        store_line,
    )
    assert json.loads(forcegate("db", "copy-revocations", "--json").out) == {
        "redis": False,
        "store": store_line.removeprefix("forcegate: store: ").strip(),
    }


@pytest.mark.usefixtures("data_dir")
def test_copy_revocations_brings_an_earlier_versions_redis_revocations_into_postgresql(
    forcegate: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    with shared_backend(with_redis=True) as backend:
        for name, value in backend.environ().items():
            monkeypatch.setenv(name, value)
        _schema_at(LATEST)
        assert backend.redis_url is not None
        admin = redis_support.admin_client(backend.redis_url)
        # As a worker of an earlier version revoked it during the rollout: on Redis alone.
        admin.set(backend.redis_prefix + "revoked:early", repr(time.time() + 600), px=600_000)
        admin.set(redis_key(backend.redis_prefix, "revoked", "x" * 300), repr(time.time() + 600), px=600_000)

        async def revoked(jti: str) -> bool:
            stores = await open_stores(load_settings())
            try:
                return await stores.tokens.is_revoked(jti)
            finally:
                await stores.close()

        assert asyncio.run(revoked("early")) is False
        result = forcegate("db", "copy-revocations")
        assert (result.code, result.out) == (0, "copied 1 revocation(s) from Redis into PostgreSQL\n")
        assert "1 revocation(s) of over-long token ids are stored hashed on Redis and were not copied" in result.err
        assert asyncio.run(revoked("early")) is True
        again = forcegate("db", "copy-revocations", "--json")
        assert json.loads(again.out) == {
            "redis": True,
            "copied": 1,
            "unreadable": 1,
            "store": "postgresql://127.0.0.1:5432/test (PostgreSQL and Redis)",
        }
