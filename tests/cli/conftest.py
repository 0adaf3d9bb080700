"""Run the ``forcegate`` command in-process, capturing its exit code and both output streams."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from forcegate.cli.main import main
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
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every CLI test runs on its own embedded default (``FORCEGATE_DATA_DIR``), with no other
    ``FORCEGATE_*`` setting leaking in from the environment."""
    for name in list(os.environ):
        if name.startswith("FORCEGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FORCEGATE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
