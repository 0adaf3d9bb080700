"""Run the ``forcegate`` command in-process, capturing its exit code and both output streams."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest

from forcegate.cli.main import main
from forcegate.settings import load_settings
from forcegate.stores.schema import upgrade_schema
from helpers import Outcome, Runner


@pytest.fixture
def forcegate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    def run(*args: str, stdin: str | bytes = b"") -> Outcome:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every CLI test runs on its own embedded default (``FORCEGATE_DATA_DIR``), with no other
    ``FORCEGATE_*`` setting leaking in from the environment.

    The store exists (the registry commands never create one): its schema only, as an operator's
    ``forcegate init`` leaves it minus the signing key and admin token, so the first ``serve`` of a
    test still creates and prints those. A test that needs no store at all uses another folder. The
    folder is not under ``tmp_path``, which stays empty for the test's own files.
    """
    for name in list(os.environ):
        # Not FORCEGATE_TEST_*: where the tests' own servers are (chosen at pytest start), not settings.
        if name.startswith("FORCEGATE_") and not name.startswith("FORCEGATE_TEST_"):
            monkeypatch.delenv(name)
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(folder))
    asyncio.run(upgrade_schema(load_settings()))
    return folder


@pytest.fixture
def store_line(data_dir: Path) -> str:
    """The line every registry command prints on standard error to say which store it used."""
    return f"forcegate: store: {data_dir.resolve()} (SQLite)\n"
