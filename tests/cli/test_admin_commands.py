from __future__ import annotations

import re
from pathlib import Path

import pytest

from forcegate.cli._stores import run_with_stores
from forcegate.stores import Stores
from helpers import Runner


def accepts(token: str) -> bool:
    async def action(stores: Stores) -> bool:
        return await stores.keys.check_admin_token(token)

    return run_with_stores(action)


def test_rotate_token_prints_a_new_working_token_once(forcegate: Runner, data_dir: Path) -> None:
    outcome = forcegate("admin", "rotate-token")
    assert outcome.code == 0, outcome.err
    token = outcome.out.strip()
    assert outcome.out == token + "\n"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # token_urlsafe(32)
    assert token not in outcome.err
    assert "previous admin token no longer works" in outcome.err
    assert accepts(token)
    assert not accepts(token[:-1] + ("A" if token[-1] != "A" else "B"))
    # only a digest is kept
    assert token.encode() not in b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())


def test_rotating_again_revokes_the_previous_token(forcegate: Runner) -> None:
    first = forcegate("admin", "rotate-token").out.strip()
    second = forcegate("admin", "rotate-token").out.strip()
    assert first != second
    assert accepts(second)
    assert not accepts(first)


def test_commands_read_the_settings_serve_reads(
    forcegate: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "configured"
    config = tmp_path / "forcegate.toml"
    config.write_text(f'data_dir = "{elsewhere}"\n')
    monkeypatch.delenv("FORCEGATE_DATA_DIR")
    monkeypatch.setenv("FORCEGATE_CONFIG", str(config))
    refused = forcegate("admin", "rotate-token")
    assert (refused.code, refused.out) == (2, "")
    assert (
        refused.err
        == f"forcegate: no_store: no forcegate store at {elsewhere} (run forcegate init, or give --data-dir)\n"
    )
    assert not elsewhere.exists()
    assert forcegate("init").code == 0
    rotated = forcegate("admin", "rotate-token")
    assert rotated.err.startswith(f"forcegate: store: {elsewhere} (SQLite)\n")
    assert accepts(rotated.out.strip())


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FORCEGATE_DATABASE_URL", "mysql://db/forcegate"), ("FORCEGATE_CONFIG", "/nonexistent/forcegate.toml")],
)
def test_a_bad_configuration_is_a_usage_error(
    forcegate: Runner, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    outcome = forcegate("admin", "rotate-token")
    assert outcome.code == 2
    assert outcome.out == ""
    assert outcome.err.startswith("forcegate: configuration_error: ")
