"""``entry``: each policy test runs once through the CLI and once through the admin API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.entries import AdminApiEntry, CliEntry, Entry
from server.conftest import clock
from server.live import start_server

__all__ = ["clock", "entry"]


@pytest.fixture(params=["cli", "admin-api"])
def entry(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Entry]:
    for name in [n for n in __import__("os").environ if n.startswith("FORCEGATE_")]:
        if not name.startswith("FORCEGATE_TEST_"):  # where the tests' servers are, not settings
            monkeypatch.delenv(name)
    if request.param == "cli":
        yield CliEntry(tmp_path, monkeypatch, capsys)
        return
    server = start_server(tmp_path / "api-data", clock=request.getfixturevalue("clock"))
    try:
        yield AdminApiEntry(server)
    finally:
        server.stop()
