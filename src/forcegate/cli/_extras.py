"""Commands that need an extra: one line naming what to install, exit 2, never a traceback."""

from __future__ import annotations

import sys

import click

from forcegate._extras import MissingExtra
from forcegate._extras import require_extra as _require

__all__ = ["EXIT_MISSING_EXTRA", "require_extra"]

# A missing package is a usage problem of the installation, like the other exit-2 cases (main.py).
EXIT_MISSING_EXTRA = 2


def require_extra(command: str, extra: str, *modules: str) -> None:
    """Make sure ``modules`` import, or end ``forcegate COMMAND`` naming the ``extra`` that brings them."""
    try:
        _require(command, extra, *modules)
    except MissingExtra as exc:
        click.echo(f"forcegate: {exc}", err=True)
        sys.exit(EXIT_MISSING_EXTRA)
