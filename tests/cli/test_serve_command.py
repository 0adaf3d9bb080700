"""``forcegate serve`` refusals that happen before any server starts (the running server is tested in tests/server)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from blocked_imports import run_forcegate
from helpers import Runner


def test_a_redis_url_beside_the_embedded_database_is_refused(
    forcegate: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis shares per-request state between hosts; with a one-host SQLite registry it would be
    # silently half-used: refused before anything is created.
    monkeypatch.setenv("FORCEGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
    result = forcegate("serve", "--data-dir", str(tmp_path / "fresh"))
    assert result.code == 2
    assert "redis_url is set but the database is not PostgreSQL" in result.err
    assert not (tmp_path / "fresh").exists(), "nothing was created"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--public-url", "http://svc.example.com"], "plain http"),
        (["--workers", "0"], "workers"),
        (["--database-url", "mysql://db/forcegate"], "not supported"),
    ],
)
def test_bad_settings_exit_2_before_starting(forcegate: Runner, tmp_path: Path, args: list[str], message: str) -> None:
    with socket.socket() as probe:  # serve binds its port first: one nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = forcegate("serve", "--data-dir", str(tmp_path / "fresh"), "--port", str(port), *args)
    assert result.code == 2
    assert message in result.err


@pytest.mark.parametrize("blocked", [["uvicorn"], ["starlette"], ["uvicorn", "starlette"]])
def test_without_the_server_extra_serve_names_it_and_exits_2(tmp_path: Path, blocked: list[str]) -> None:
    result = run_forcegate("serve", "--data-dir", str(tmp_path / "fresh"), blocked=blocked)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()  # one line, no traceback
    assert line.startswith("forcegate: serve needs the 'server' extra (")
    assert line.endswith("is not installed): pip install 'forcegate[server]'")
    assert result.stdout == ""
    assert not (tmp_path / "fresh").exists(), "nothing was created"
