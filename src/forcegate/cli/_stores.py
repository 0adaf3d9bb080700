"""What the registry, audit and admin commands share: the stores of ``forcegate serve``, and output.

Every command opens the stores named by :func:`~forcegate.settings.load_settings` (the same
``FORCEGATE_*`` variables and ``FORCEGATE_CONFIG`` file the server reads), runs, and closes them. A
running server sees the change on its next request: each registry write bumps the generation
counter it watches.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from forcegate.cli._io import UnreadableInput, read_secret_env, read_secret_file
from forcegate.core.ids import to18
from forcegate.registry.service import RegistryService
from forcegate.settings import load_settings
from forcegate.stores.bundle import Stores
from forcegate.stores.opening import open_stores

__all__ = [
    "clean",
    "echo_json",
    "org_id",
    "read_consumer_secret",
    "run_with_registry",
    "run_with_stores",
    "warn",
]

T = TypeVar("T")

# C0/C1 controls and the Unicode line/paragraph separators: registry and audit text can come from
# a caller (an assertion's iss, a detail quoting it); printed raw it could rewrite the terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def run_with_stores(action: Callable[[Stores], Awaitable[T]]) -> T:
    """Open the configured stores (migrating the schema if needed), run ``action``, always close them."""
    settings = load_settings()

    async def run() -> T:
        stores = await open_stores(settings, migrate="create")
        try:
            return await action(stores)
        finally:
            await stores.close()

    return asyncio.run(run())


def run_with_registry(action: Callable[[RegistryService], Awaitable[T]]) -> T:
    """:func:`run_with_stores` for the registry commands: ``action`` gets the registry service, which
    applies the same policy as the admin API (the commands only parse options and print)."""
    settings = load_settings()

    async def with_registry(stores: Stores) -> T:
        return await action(RegistryService(stores, settings=settings))

    return run_with_stores(with_registry)


def org_id(value: str) -> str:
    """The canonical 18-character form of an org id given in 15 or 18 characters."""
    return to18(value)


def read_consumer_secret(secret_env: str | None, secret_file: str | None) -> str:
    """The consumer secret from exactly one of ``--secret-env`` / ``--secret-file`` (never from argv).

    Only read here; whether it is acceptable is the registry's policy, the same as the admin API's.
    """
    if (secret_env is None) == (secret_file is None):
        raise click.UsageError("give exactly one of --secret-env VAR or --secret-file F")
    raw = read_secret_env(secret_env) if secret_env is not None else read_secret_file(str(secret_file))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableInput("the consumer secret is not UTF-8 text") from None


def warn(message: str) -> None:
    """One ``forcegate: warning:`` line on standard error."""
    click.echo(f"forcegate: warning: {message}", err=True)


def clean(value: object) -> str:
    """``value`` for one line of human output: ``-`` for nothing, control characters escaped."""
    if value is None or value == "":
        return "-"
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))
