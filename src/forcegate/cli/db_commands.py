"""``forcegate db``: the database schema (status, upgrade), the encryption of its secrets (rekey), and
the revocations an earlier version kept on Redis (copy-revocations).

``forcegate serve`` (and ``forcegate init``) set up a new, empty database but ``serve`` refuses to
start on an outdated one (unless ``--migrate``): upgrading a database shared by running workers is a
deliberate step, run once, here, before the new version's workers start. These commands work on an
existing store only: where there is none they say so (``no_store``, exit 2) and create nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from forcegate.cli._stores import (
    cli_settings,
    echo_json,
    require_store,
    run_with_registry,
    run_with_stores,
    store_option,
    used_store,
    warn,
)
from forcegate.registry import RegistryService
from forcegate.stores import Stores
from forcegate.stores.rekey import rekey
from forcegate.stores.schema import schema_state, upgrade_schema

if TYPE_CHECKING:
    from forcegate.stores.redis_state import RevocationCopy

__all__ = ["db"]


@click.group()
def db() -> None:
    """The configured database (FORCEGATE_DATABASE_URL, or the data folder's SQLite file): schema, encryption."""


@db.command("status")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def db_status(as_json: bool) -> None:
    """Print the schema version of the database and the version this forcegate needs.

    Exits 1 when the database needs `forcegate db upgrade` (or a newer forcegate); exits 2 with
    `forcegate: no_store: …` when there is no forcegate store there.
    """
    settings = cli_settings()
    asyncio.run(require_store(settings))
    state = asyncio.run(schema_state(settings))
    used_store(settings)
    verdict = "up to date" if state.up_to_date else ("outdated" if state.current < state.latest else "newer")
    if as_json:
        echo_json({"backend": state.backend, "current": state.current, "latest": state.latest, "status": verdict})
    else:
        click.echo(f"{state.backend} schema version {state.current}; this forcegate needs {state.latest}: {verdict}")
    if not state.up_to_date:
        click.get_current_context().exit(1)


@db.command("upgrade")
@store_option
@click.option("--to", "target", type=int, help="Stop at this version [default: the latest].")
def db_upgrade(target: int | None) -> None:
    """Apply the missing schema migrations, in one transaction (safe to run from several hosts at once)."""
    settings = cli_settings()
    asyncio.run(require_store(settings))
    applied = asyncio.run(upgrade_schema(settings, target=target))
    state = asyncio.run(schema_state(settings))
    used_store(settings)
    if applied:
        click.echo(f"applied migration(s) {', '.join(map(str, applied))}; schema version is now {state.current}")
    else:
        click.echo(f"nothing to do; schema version is {state.current}")
    if CANVAS_BINDING_MIGRATION in applied:
        _warn_about_shared_canvas_apps()


#: The migration that bound every Canvas app to every org registered at the time.
CANVAS_BINDING_MIGRATION = 6


def _warn_about_shared_canvas_apps() -> None:
    """Migration 6 bound each app to every org (what it could reach before); say which now vouch for several."""

    async def action(registry: RegistryService) -> dict[str, int]:
        return await registry.apps_bound_to_several_orgs()

    for key, count in sorted(run_with_registry(action).items()):
        click.echo(
            f"forcegate: warning: Canvas app {key} is bound to {count} orgs (what it could reach before this "
            "version): its one consumer secret opens sessions for each of them. Keep only the orgs that use "
            f"it (forcegate orgs update ORG_ID --app …; forcegate apps show {key} lists them)",
            err=True,
        )


@db.command("copy-revocations")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def db_copy_revocations(as_json: bool) -> None:
    """Copy into PostgreSQL the token revocations that workers of an earlier forcegate kept on Redis only.

    PostgreSQL + Redis keeps revocations in PostgreSQL (mirrored on Redis, decision 0032). Run this
    once a rollout from an earlier version is over: a token an earlier worker revoked during the
    rollout is then refused by every worker. Safe to repeat. Elsewhere there is nothing to copy.
    """

    async def action(stores: Stores) -> RevocationCopy | None:
        # Only the Redis token store has revocations to copy; the CLI does not import redis otherwise.
        copy: Callable[[], Awaitable[RevocationCopy]] | None = getattr(stores.tokens, "copy_revocations", None)
        return None if copy is None else await copy()

    result = run_with_stores(action)
    if as_json:
        found = {} if result is None else {"copied": result.copied, "unreadable": result.unreadable}
        echo_json({"redis": result is not None, **found})
        return
    if result is None:
        click.echo("nothing to copy: this deployment keeps no revocations on Redis")
        return
    click.echo(f"copied {result.copied} revocation(s) from Redis into PostgreSQL")
    if result.unreadable:
        warn(f"{result.unreadable} revocation(s) of over-long token ids are stored hashed on Redis and were not copied")


@db.command("rekey")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def db_rekey(as_json: bool) -> None:
    """Re-seal every secret in the database with the first key of FORCEGATE_ENCRYPTION_KEY, in one transaction.

    Rotating the encryption key without downtime: 1) roll out every worker with
    FORCEGATE_ENCRYPTION_KEY=NEW,OLD; 2) run this; 3) roll out with NEW alone. A secret that none of
    the configured keys opens refuses the whole run (exit 2), and nothing changes.
    """
    settings = cli_settings()
    asyncio.run(require_store(settings))
    result = asyncio.run(rekey(settings))
    used_store(settings)
    if as_json:
        echo_json({"key_id": result.key_id, "resealed": result.resealed, "total": result.total})
        return
    click.echo(f"re-sealed {result.resealed} of {result.total} stored secret(s) with encryption key {result.key_id}")
    click.echo(
        f"forcegate: note: every stored secret is now sealed with key {result.key_id}; the keys listed after it "
        "in FORCEGATE_ENCRYPTION_KEY are no longer needed and can be removed",
        err=True,
    )
