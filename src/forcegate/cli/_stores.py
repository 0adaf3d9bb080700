"""What the registry, audit, admin and db commands share: the stores of ``forcegate serve``, and output.

Every command opens the stores named by :func:`~forcegate.settings.load_settings` (the same
``FORCEGATE_*`` variables and ``FORCEGATE_CONFIG`` file the server reads; ``--data-dir`` wins over
``FORCEGATE_DATA_DIR``), runs, and closes them. A running server sees the change on its next
request: each registry write bumps the generation counter it watches.

They never create a store: where there is none they refuse with ``forcegate: no_store: …`` (exit 2),
so a command run in the wrong folder cannot start an empty registry there. ``forcegate init`` and
``forcegate serve`` create one. Each says which store it used: ``forcegate: store: WHERE (BACKEND)``
on standard error, or, with ``--json`` printing an object, its ``"store"`` field (a ``--json`` list
keeps its shape, and the line goes to standard error).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from forcegate.cli._io import UnreadableInput, read_secret_env, read_secret_file
from forcegate.core.ids import to18
from forcegate.errors import NoStore
from forcegate.registry.service import RegistryService
from forcegate.settings import Settings, load_settings
from forcegate.stores.bundle import Stores
from forcegate.stores.opening import open_stores
from forcegate.stores.schema import schema_state

__all__ = [
    "clean",
    "cli_settings",
    "describe_store",
    "echo_json",
    "org_id",
    "read_consumer_secret",
    "require_store",
    "run_with_registry",
    "run_with_stores",
    "store_option",
    "used_store",
    "warn",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# Keys of click's per-invocation ``Context.meta`` (shared by a command and its groups).
_DATA_DIR = "forcegate.data_dir"
_STORE = "forcegate.store"
_ANNOUNCED = "forcegate.store_announced"

# C0/C1 controls and the Unicode line/paragraph separators: registry and audit text can come from
# a caller (an assertion's iss, a detail quoting it); printed raw it could rewrite the terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _remember_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[_DATA_DIR] = value


def store_option(command: F) -> F:
    """The ``--data-dir D`` option of every command that works on the store."""
    option = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        callback=_remember_data_dir,
        help="The store's data folder [default: FORCEGATE_DATA_DIR, else ./.forcegate].",
    )
    return option(command)


def cli_settings() -> Settings:
    """The settings, with the command's ``--data-dir`` (if given) over ``FORCEGATE_DATA_DIR``."""
    ctx = click.get_current_context(silent=True)
    data_dir = None if ctx is None else ctx.meta.get(_DATA_DIR)
    return load_settings(data_dir=data_dir)


def _location(settings: Settings) -> tuple[str, str]:
    """Where the store is, and its backend; a database URL without its user, password or query."""
    url = settings.effective_database_url
    if settings.database_url is None:
        return str(settings.data_dir.resolve()), "SQLite"
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///"), "SQLite"
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    backend = "PostgreSQL" + (" and Redis" if settings.redis_url else "")
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}", backend


def describe_store(settings: Settings) -> str:
    """``/srv/acme/.forcegate (SQLite)``: for the ``store:`` line and the JSON ``"store"`` field."""
    where, backend = _location(settings)
    return f"{where} ({backend})"


async def require_store(settings: Settings) -> None:
    """Refuse with :class:`NoStore` when the settings point to no forcegate store; create nothing."""
    state = await schema_state(settings)
    if state.current == 0:
        where, _ = _location(settings)
        hint = "run forcegate init, or give --data-dir" if settings.database_url is None else "run forcegate init"
        raise NoStore(f"no forcegate store at {where} ({hint})")


def used_store(settings: Settings) -> None:
    """Say, once per command, which store it used: ``forcegate: store: …`` on standard error, unless
    the command prints ``--json``, where :func:`echo_json` carries it."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.meta.get(_ANNOUNCED):
        return
    ctx.meta[_ANNOUNCED] = True
    ctx.meta[_STORE] = describe_store(settings)
    if not ctx.params.get("as_json"):
        click.echo(f"forcegate: store: {ctx.meta[_STORE]}", err=True)


def run_with_stores(action: Callable[[Stores], Awaitable[T]], *, settings: Settings | None = None) -> T:
    """Open the existing stores (never creating one; an outdated schema is refused), run ``action``,
    always close them; then say which store was used (:func:`used_store`)."""
    settings = cli_settings() if settings is None else settings

    async def run() -> T:
        await require_store(settings)
        stores = await open_stores(settings, migrate="check")
        try:
            return await action(stores)
        finally:
            await stores.close()

    result = asyncio.run(run())
    used_store(settings)
    return result


def run_with_registry(action: Callable[[RegistryService], Awaitable[T]]) -> T:
    """:func:`run_with_stores` for the registry commands: ``action`` gets the registry service, which
    applies the same policy as the admin API (the commands only parse options and print)."""
    settings = cli_settings()

    async def with_registry(stores: Stores) -> T:
        return await action(RegistryService(stores, settings=settings))

    return run_with_stores(with_registry, settings=settings)


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
    """``value`` as JSON. After a command used the store: an object gets its ``"store"`` field; a list
    keeps its shape (scripts iterate it) and the ``forcegate: store:`` line goes to standard error."""
    ctx = click.get_current_context(silent=True)
    store = None if ctx is None else ctx.meta.get(_STORE)
    if store is not None and isinstance(value, dict):
        value = {**value, "store": store}
    elif store is not None:
        click.echo(f"forcegate: store: {store}", err=True)
    click.echo(json.dumps(value, indent=2, sort_keys=True))
