"""``forcegate db status|upgrade``, and ``serve`` refusing an outdated schema unless told to migrate."""

from __future__ import annotations

import asyncio
import json
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
