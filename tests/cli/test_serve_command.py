"""``forcegate serve`` refusals that happen before any server starts (the running server is tested in tests/server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Runner


def test_a_redis_url_beside_the_embedded_database_is_refused(
    forcegate: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis shares per-request state between hosts; with a one-host SQLite registry it would be
    # silently half-used: refused before anything is created.
    monkeypatch.setenv("FORCEGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
    result = forcegate("serve", "--data-dir", str(tmp_path / "data"))
    assert result.code == 2
    assert "redis_url is set but the database is not PostgreSQL" in result.err
    assert not (tmp_path / "data").exists(), "nothing was created"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--public-url", "http://svc.example.com"], "plain http"),
        (["--workers", "0"], "workers"),
        (["--database-url", "mysql://db/forcegate"], "not supported"),
    ],
)
def test_bad_settings_exit_2_before_starting(forcegate: Runner, tmp_path: Path, args: list[str], message: str) -> None:
    result = forcegate("serve", "--data-dir", str(tmp_path / "data"), "--port", "1", *args)
    assert result.code == 2
    assert message in result.err
