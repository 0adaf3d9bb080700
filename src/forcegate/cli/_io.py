"""Reading secrets and inputs for the CLI: from the environment or files, never from argv.

A secret on the command line lands in shell history and in every process listing on the host, so
the CLI only takes the *name* of an environment variable or the *path* of a file holding it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any

import click

from forcegate.errors import KeystorePasswordError
from forcegate.keys import Keystore, load_keystore_file

__all__ = ["UnreadableInput", "load_keystore", "read_input", "read_secret_env", "read_secret_file"]


class UnreadableInput(click.ClickException):
    """Input the command cannot read at all: exit code 2, one ``forcegate: unreadable_input:`` line."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"forcegate: unreadable_input: {self.format_message()}", err=True, file=file)


def read_secret_env(variable: str) -> bytes:
    value = os.environ.get(variable)
    if value is None:
        raise UnreadableInput(f"environment variable {variable} is not set")
    if not value:
        raise UnreadableInput(f"environment variable {variable} is empty")
    return value.encode("utf-8")


def read_secret_file(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableInput(f"cannot read secret file {path}: {exc.strerror}") from None
    # Editors and `echo` leave a final newline that is not part of the secret.
    data = data.rstrip(b"\r\n")
    if not data:
        raise UnreadableInput(f"secret file {path} is empty")
    return data


def read_input(source: str | None) -> bytes:
    """The bytes of FILE, or of standard input for ``-`` or no argument."""
    if source is None or source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise UnreadableInput(f"cannot read {source}: {exc.strerror}") from None


def load_keystore(path: Path, password_env: str | None) -> Keystore:
    """The keystore at ``path``, opened with the password in the variable ``password_env`` (if given).

    A keystore that needs a password and got none names the option that gives it: the library's
    message cannot know what the command calls it.
    """
    password = read_secret_env(password_env) if password_env else None
    try:
        return load_keystore_file(path, password=password)
    except KeystorePasswordError as exc:
        if password is not None:
            raise
        raise KeystorePasswordError(
            f"{exc.reason}; give it with --password-env VAR (VAR: an environment variable holding it)"
        ) from None
