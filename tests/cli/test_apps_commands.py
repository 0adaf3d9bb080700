from __future__ import annotations

import json
from pathlib import Path

import pytest

from forcegate.cli._stores import run_with_stores
from forcegate.stores import Stores
from helpers import Runner

SECRET = "8F1D2C3B4A5968778695A4B3C2D1E0F0A1B2C3D4E5F60718293A4B5C6D7E8F90"
OTHER_SECRET = "0F1E2D3C4B5A69788796A5B4C3D2E1F00A1B2C3D4E5F60718293A4B5C6D7E8F9"
KEY = "3MVG9_forcegate.test.consumer.key"


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_SECRET", SECRET)
    monkeypatch.setenv("FG_TEST_OTHER_SECRET", OTHER_SECRET)


def stored_secrets(consumer_key: str) -> list[str]:
    async def action(stores: Stores) -> list[str]:
        return [secret.secret for secret in await stores.trust.app_secrets(consumer_key)]

    return run_with_stores(action)


def generation() -> int:
    async def action(stores: Stores) -> int:
        return await stores.trust.generation()

    return run_with_stores(action)


def test_add_from_env_then_show(forcegate: Runner, store_line: str) -> None:
    added = forcegate("apps", "add", KEY, "--name", "Acme Canvas", "--secret-env", "FG_TEST_SECRET")
    assert added.code == 0, added.err
    assert added.out == KEY + "\n"
    assert added.err == store_line + (
        f"forcegate: note: app {KEY} opens Canvas sessions only for the orgs bound to it: "
        f"forcegate orgs add ORG_ID --app {KEY} (or orgs update ORG_ID --app …)\n"
    )
    shown = forcegate("apps", "show", KEY, "--json")
    assert shown.code == 0, shown.err
    view = json.loads(shown.out)
    assert view["consumer_key"] == KEY
    assert view["name"] == "Acme Canvas"
    assert view["any_org"] is False
    assert len(view["active_secrets"]) == 1
    assert view["active_secrets"][0]["created_at"].endswith("Z")
    assert stored_secrets(KEY) == [SECRET]


def test_add_from_file_strips_the_final_newline(forcegate: Runner, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    outcome = forcegate("apps", "add", KEY, "--secret-file", str(secret_file))
    assert outcome.code == 0, outcome.err
    assert stored_secrets(KEY) == [SECRET]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param([], id="neither"),
        pytest.param(["--secret-env", "FG_TEST_SECRET", "--secret-file", "/dev/null"], id="both"),
    ],
)
def test_exactly_one_secret_source(forcegate: Runner, options: list[str]) -> None:
    outcome = forcegate("apps", "add", KEY, *options)
    assert outcome.code == 2
    assert "exactly one of --secret-env VAR or --secret-file F" in outcome.err
    assert forcegate("apps", "list", "--json").out.strip() == "[]"


def test_unset_or_empty_secret_is_unreadable_input(forcegate: Runner, tmp_path: Path) -> None:
    unset = forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_UNSET_SECRET")
    assert unset.code == 2
    assert unset.err == "forcegate: unreadable_input: environment variable FG_TEST_UNSET_SECRET is not set\n"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert forcegate("apps", "add", KEY, "--secret-file", str(empty)).code == 2


def test_a_secret_with_surrounding_spaces_is_refused(forcegate: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_SPACED", SECRET + " ")
    outcome = forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SPACED")
    assert outcome.code == 1  # read, then refused by the registry's policy (the admin API's too)
    assert outcome.err.startswith("forcegate: weak_secret: ")
    assert SECRET not in outcome.err


@pytest.mark.parametrize("key", ["a/b", "with space", "", "x" * 256])
def test_consumer_key_must_be_url_safe(forcegate: Runner, key: str) -> None:
    outcome = forcegate("apps", "add", key, "--secret-env", "FG_TEST_SECRET")
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: invalid_input: consumer_key ")


def test_duplicate_app(forcegate: Runner) -> None:
    assert forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET").code == 0
    again = forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_OTHER_SECRET")
    assert again.code == 1
    assert again.err.startswith("forcegate: already_exists: ")
    assert stored_secrets(KEY) == [SECRET]


def test_any_org_warns_and_is_recorded(forcegate: Runner) -> None:
    help_text = forcegate("apps", "add", "--help").out
    assert "--any-org" in help_text
    assert "Weaker" in help_text
    outcome = forcegate("apps", "add", KEY, "--any-org", "--secret-env", "FG_TEST_SECRET")
    assert outcome.code == 0, outcome.err
    assert "any-org (weaker, legacy" in outcome.err
    assert json.loads(forcegate("apps", "show", KEY, "--json").out)["any_org"] is True


def test_list_human_and_json(forcegate: Runner) -> None:
    assert forcegate("apps", "list").out == ""
    assert forcegate("apps", "add", "zeta", "--name", "Z", "--secret-env", "FG_TEST_SECRET").code == 0
    assert forcegate("apps", "add", "alpha", "--any-org", "--secret-env", "FG_TEST_OTHER_SECRET").code == 0
    lines = forcegate("apps", "list").out.splitlines()
    assert lines == ["alpha  secrets=1  any-org  -", "zeta  secrets=1  orgs=0  Z"]
    listed = json.loads(forcegate("apps", "list", "--json").out)
    assert [app["consumer_key"] for app in listed] == ["alpha", "zeta"]
    assert [app["any_org"] for app in listed] == [True, False]


def test_rotate_secret_keeps_the_previous_one(forcegate: Runner) -> None:
    assert forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET").code == 0
    rotated = forcegate("apps", "rotate-secret", KEY, "--secret-env", "FG_TEST_OTHER_SECRET")
    assert rotated.code == 0, rotated.err
    assert "2 active secret(s)" in rotated.out
    assert stored_secrets(KEY) == [OTHER_SECRET, SECRET]  # newest first
    shown = forcegate("apps", "show", KEY)
    assert "active_secrets: 2" in shown.out


def test_rotate_secret_keep_previous_zero_retires_the_rest(forcegate: Runner, tmp_path: Path) -> None:
    assert forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET").code == 0
    secret_file = tmp_path / "new"
    secret_file.write_text(OTHER_SECRET)
    outcome = forcegate("apps", "rotate-secret", KEY, "--secret-file", str(secret_file), "--keep-previous", "0")
    assert outcome.code == 0, outcome.err
    assert stored_secrets(KEY) == [OTHER_SECRET]
    assert len(json.loads(forcegate("apps", "show", KEY, "--json").out)["active_secrets"]) == 1


def test_rotate_secret_errors(forcegate: Runner) -> None:
    unknown = forcegate("apps", "rotate-secret", "nobody", "--secret-env", "FG_TEST_SECRET")
    assert unknown.code == 1
    assert unknown.err == "forcegate: not_found: no app with consumer key 'nobody'\n"
    assert forcegate("apps", "rotate-secret", KEY).code == 2
    refused = forcegate("apps", "rotate-secret", KEY, "--secret-env", "FG_TEST_SECRET", "--keep-previous", "-1")
    assert (refused.code, refused.err) == (1, "forcegate: invalid_input: keep_previous must be from 0 to 100\n")


def test_show_and_remove_unknown(forcegate: Runner) -> None:
    for command in (["show", "nobody"], ["remove", "nobody"]):
        outcome = forcegate("apps", *command)
        assert outcome.code == 1
        assert outcome.err.startswith("forcegate: not_found: ")


def test_remove(forcegate: Runner) -> None:
    assert forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET").code == 0
    removed = forcegate("apps", "remove", KEY)
    assert removed.code == 0, removed.err
    assert forcegate("apps", "show", KEY).code == 1
    assert forcegate("apps", "list", "--json").out.strip() == "[]"


def test_every_write_is_visible_to_a_running_server(forcegate: Runner) -> None:
    # The server caches the registry and re-reads it when the generation counter moves.
    before = generation()
    assert forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET").code == 0
    after_add = generation()
    assert after_add > before
    assert forcegate("apps", "rotate-secret", KEY, "--secret-env", "FG_TEST_OTHER_SECRET").code == 0
    assert generation() > after_add


def test_secrets_never_appear_in_output_or_in_the_database(forcegate: Runner, data_dir: Path) -> None:
    outcomes = [
        forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET"),
        forcegate("apps", "rotate-secret", KEY, "--secret-env", "FG_TEST_OTHER_SECRET"),
        forcegate("apps", "list"),
        forcegate("apps", "list", "--json"),
        forcegate("apps", "show", KEY),
        forcegate("apps", "show", KEY, "--json"),
        forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET"),  # the duplicate error
    ]
    for outcome in outcomes:
        for secret in (SECRET, OTHER_SECRET):
            assert secret not in outcome.out
            assert secret not in outcome.err
    at_rest = b"".join(path.read_bytes() for path in data_dir.iterdir() if path.is_file())
    assert SECRET.encode() not in at_rest
    assert OTHER_SECRET.encode() not in at_rest


def test_the_canvas_name_is_set_at_add_and_changed_by_update(forcegate: Runner) -> None:
    added = forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET", "--canvas-name", "acme__Orders")
    assert added.code == 0, added.err
    assert "canvas_name: acme__Orders" in forcegate("apps", "show", KEY).out.splitlines()
    before = generation()
    updated = forcegate("apps", "update", KEY, "--canvas-name", "Orders_V2")
    assert updated.code == 0, updated.err
    assert updated.out == f"app {KEY}: canvas_name Orders_V2\n"
    assert generation() > before  # a running server routes by the new name on its next request
    forgotten = forcegate("apps", "update", KEY, "--no-canvas-name")
    assert forgotten.out == f"app {KEY}: canvas_name -\n"
    assert json.loads(forcegate("apps", "show", KEY, "--json").out)["canvas_name"] is None


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--canvas-name", "two words"], 1, "canvas_name must be a Salesforce developer name"),
        (["--canvas-name", "A", "--no-canvas-name"], 2, "exclude each other"),
        ([], 2, "nothing to change"),
    ],
)
def test_update_refuses_what_it_cannot_do(forcegate: Runner, arguments: list[str], code: int, message: str) -> None:
    assert forcegate("apps", "add", KEY, "--secret-env", "FG_TEST_SECRET").code == 0
    outcome = forcegate("apps", "update", KEY, *arguments)
    assert outcome.code == code
    assert message in outcome.err


def test_update_of_an_unknown_app(forcegate: Runner) -> None:
    outcome = forcegate("apps", "update", "nope", "--canvas-name", "X")
    assert outcome.code == 1
    assert "no app with consumer key 'nope'" in outcome.err
