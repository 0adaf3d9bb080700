"""Shell completion, as README documents it: click's, through the ``_FORCEGATE_COMPLETE`` variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The console script installed beside this interpreter (the venv's), as a user's shell runs it.
FORCEGATE = Path(sys.executable).with_name("forcegate")


def _complete(shell_mode: str, **env: str) -> str:
    assert FORCEGATE.exists(), f"the forcegate command is not installed beside {sys.executable}"
    run_env = {**os.environ, "_FORCEGATE_COMPLETE": shell_mode, **env}
    done = subprocess.run([str(FORCEGATE)], env=run_env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef forcegate"),
        ("fish", "complete --no-files --command forcegate"),
    ],
)
def test_the_completion_script_of_each_shell(shell: str, marker: str) -> None:
    assert marker in _complete(f"{shell}_source")


def test_commands_and_options_complete() -> None:
    assert "plain,orgs" in _complete("bash_complete", COMP_WORDS="forcegate or", COMP_CWORD="1").splitlines()
    options = _complete("bash_complete", COMP_WORDS="forcegate serve --wo", COMP_CWORD="2").splitlines()
    assert options == ["plain,--workers"]
