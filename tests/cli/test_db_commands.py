"""``forcegate db status|upgrade``, and ``serve`` refusing an outdated schema unless told to migrate."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from forcegate.service.bootstrap import bootstrap
from forcegate.settings import load_settings
from forcegate.stores import migrate
from forcegate.stores.schema import schema_state
from helpers import Runner
from server.backends import shared_backend

LATEST = migrate.latest_version()


def _status(forcegate: Runner) -> dict[str, object]:
    result = forcegate("db", "status", "--json")
    status: dict[str, object] = json.loads(result.out)
    status["exit"] = result.code
    return status


def test_a_new_data_folder_is_at_version_0_until_upgraded(forcegate: Runner, data_dir: Path) -> None:
    assert _status(forcegate) == {
        "backend": "sqlite",
        "current": 0,
        "latest": LATEST,
        "status": "outdated",
        "exit": 1,
    }
    assert not data_dir.exists(), "status only reads"
    result = forcegate("db", "upgrade")
    assert result.code == 0
    assert f"schema version is now {LATEST}" in result.out
    assert _status(forcegate)["status"] == "up to date"
    assert forcegate("db", "status").code == 0
    again = forcegate("db", "upgrade")
    assert again.out.strip() == f"nothing to do; schema version is {LATEST}"


def test_serve_refuses_an_outdated_schema_unless_told_to_migrate(forcegate: Runner, data_dir: Path) -> None:
    assert forcegate("db", "upgrade", "--to", "1").code == 0
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
    assert forcegate("db", "upgrade").code == 0
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
    assert _status(forcegate) == {
        "backend": "postgresql",
        "current": 0,
        "latest": LATEST,
        "status": "outdated",
        "exit": 1,
    }
    assert forcegate("db", "upgrade", "--to", "2").code == 0
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
    forcegate: Runner, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upgrades must not cut a working deployment off: before version 6 an app's secret reached every
    registered org; after it, exactly those orgs are bound, and apps bound to several are named."""
    assert forcegate("db", "upgrade", "--to", "5").code == 0
    # A deployment at version 5 (the commands refuse an outdated schema: written as version 5 would).
    with sqlite3.connect(data_dir / "forcegate.db") as conn:
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
