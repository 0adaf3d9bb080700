"""``forcegate init``, ``--data-dir``, and registry commands that never create a store (issue 16).

Run in the wrong folder, ``forcegate orgs list`` used to create an empty ``.forcegate`` there and
answer from it as if the registry were empty.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from forcegate.cli.admin_commands import admin
from forcegate.cli.apps_commands import apps
from forcegate.cli.audit_commands import audit
from forcegate.cli.certs_commands import certs
from forcegate.cli.db_commands import db
from forcegate.cli.orgs_commands import orgs
from helpers import Runner

ORG15 = "00D5g000004SXyz"

GROUPS: list[click.Group] = [orgs, apps, certs, admin, db]
REGISTRY_COMMANDS = [(group.name, command) for group in GROUPS for command in group.commands.values()]
REGISTRY_COMMANDS.append((None, audit))

# One invocation per group that would otherwise reach the store.
READS = [
    ("orgs", "list"),
    ("orgs", "add", ORG15),
    ("apps", "list"),
    ("certs", "list", ORG15),
    ("audit",),
    ("admin", "rotate-token"),
    ("admin", "signing-keys"),
    ("db", "status"),
]


def _no_store(where: Path) -> str:
    return f"forcegate: no_store: no forcegate store at {where} (run forcegate init, or give --data-dir)\n"


@pytest.mark.parametrize(("group", "command"), REGISTRY_COMMANDS, ids=lambda v: getattr(v, "name", v))
def test_every_registry_command_takes_data_dir(group: str | None, command: click.Command) -> None:
    assert "--data-dir" in [opt for param in command.params for opt in getattr(param, "opts", [])], (group, command)


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_no_store_is_refused_in_one_line_and_nothing_is_created(
    forcegate: Runner, tmp_path: Path, args: tuple[str, ...]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    outcome = forcegate(*args, "--data-dir", str(elsewhere))
    assert (outcome.code, outcome.out, outcome.err) == (2, "", _no_store(elsewhere))
    assert not elsewhere.exists()


def test_in_the_wrong_folder_the_default_store_is_not_created(
    forcegate: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cd /tmp && forcegate orgs list`
    monkeypatch.delenv("FORCEGATE_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    outcome = forcegate("orgs", "list")
    assert (outcome.code, outcome.out, outcome.err) == (2, "", _no_store(tmp_path / ".forcegate"))
    assert list(tmp_path.iterdir()) == []


def test_init_creates_the_store_and_says_where(forcegate: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    created = forcegate("init", "--data-dir", str(folder))
    assert created.code == 0, created.err
    lines = created.out.splitlines()
    assert lines[0] == f"forcegate: created the store {folder} (SQLite)"
    assert lines[1].startswith("forcegate: created access-token signing key ")
    assert lines[2].startswith("forcegate: admin token (shown once;")
    assert (folder / "forcegate.db").is_file()
    again = forcegate("init", "--data-dir", str(folder))
    assert (again.code, again.out) == (0, f"forcegate: store {folder} (SQLite) already exists\n")
    # and the commands use it
    listed = forcegate("orgs", "list", "--data-dir", str(folder))
    assert (listed.code, listed.out, listed.err) == (0, "", f"forcegate: store: {folder} (SQLite)\n")


def test_data_dir_wins_over_the_environment(forcegate: Runner, tmp_path: Path, data_dir: Path) -> None:
    other = tmp_path / "other"
    assert forcegate("init", "--data-dir", str(other)).code == 0
    assert forcegate("orgs", "add", ORG15, "--data-dir", str(other)).code == 0
    assert forcegate("orgs", "list", "--json").out.strip() == "[]"  # FORCEGATE_DATA_DIR: the fixture's store
    assert len(json.loads(forcegate("orgs", "list", "--json", "--data-dir", str(other)).out)) == 1


def test_json_objects_name_the_store_and_lists_keep_their_shape(
    forcegate: Runner, data_dir: Path, store_line: str
) -> None:
    assert forcegate("orgs", "add", ORG15).code == 0
    shown = forcegate("orgs", "show", ORG15, "--json")
    assert json.loads(shown.out)["store"] == f"{data_dir.resolve()} (SQLite)"
    assert shown.err == ""
    listed = forcegate("orgs", "list", "--json")
    assert isinstance(json.loads(listed.out), list)
    assert listed.err == store_line


def test_a_refusal_after_opening_the_store_stays_one_line(forcegate: Runner) -> None:
    outcome = forcegate("orgs", "show", ORG15)
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: not_found: ")
    assert len(outcome.err.splitlines()) == 1
