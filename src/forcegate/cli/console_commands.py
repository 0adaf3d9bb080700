"""The console's commands: ``forcegate admin create-user`` and ``forcegate orgs migration-status``.

Both are adapters: the operator policy is :mod:`forcegate.service.console_sign_in`'s (Argon2id, the
password's bounds), the migration figures :meth:`forcegate.registry.activity.ActivityReports.migration_status`'s
— the console's overview shows the same.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from forcegate.cli._io import UnreadableInput, read_secret_env
from forcegate.cli._stores import clean, echo_json, run_with_stores, store_option
from forcegate.clock import SystemClock
from forcegate.registry.activity import MIGRATION_CATEGORIES, ActivityReports, MigrationStatus
from forcegate.registry.views import iso
from forcegate.service.console_sign_in import ConsoleSignIn
from forcegate.stores.bundle import Stores
from forcegate.stores.console_rows import Operator

__all__ = ["create_user", "migration_status"]


def _password(password_env: str | None) -> str:
    if password_env is not None:
        raw = read_secret_env(password_env)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableInput(f"environment variable {password_env} is not UTF-8 text") from None
    # Never from the command line (it would sit in the shell's history and the process list). Hidden
    # at a terminal; read as lines when piped (getpass would warn that it cannot hide them).
    entered = click.prompt("Password", hide_input=sys.stdin.isatty(), confirmation_prompt=True, err=True)
    return str(entered)


@click.command("create-user")
@store_option
@click.argument("name")
@click.option(
    "--password-env", metavar="VAR", help="Read the password from this environment variable instead of a prompt."
)
def create_user(name: str, password_env: str | None) -> None:
    """Create a console operator NAME (the audit log names who acted).

    The password (12 to 1024 characters) is asked for twice, or read from --password-env VAR; only
    its Argon2id hash is stored. Operators sign in at /console.
    """
    password = _password(password_env)

    async def action(stores: Stores) -> Operator:
        return await ConsoleSignIn(stores, clock=SystemClock()).create_operator(name, password)

    operator = run_with_stores(action)
    click.echo(operator.name)
    click.echo(f"forcegate: note: {operator.name} can sign in at /console", err=True)


def _status_view(status: MigrationStatus) -> dict[str, Any]:
    counts = status.counts
    return {
        "days": status.days,
        "registered_orgs": status.registered,
        "canvas_only": counts.canvas_only,
        "both": counts.both,
        "jwt_only": counts.jwt_only,
        "no_traffic": status.silent,
        "orgs": {
            category: [
                {
                    "org_id": org.org_id,
                    "last_canvas": None if org.last_canvas is None else iso(org.last_canvas),
                    "last_jwt": None if org.last_jwt is None else iso(org.last_jwt),
                }
                for org in status.orgs[category]
            ]
            for category in MIGRATION_CATEGORIES
        },
    }


@click.command("migration-status")
@store_option
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="How far back to look.")
@click.option("--limit", type=click.IntRange(0, 1000), default=100, show_default=True, help="Orgs listed per category.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def migration_status(days: int, limit: int, as_json: bool) -> None:
    """How far the orgs moved from Canvas to Apex JWTs, from the audit log.

    Counts the orgs that arrived (verified, allowed decisions) in the last --days only through
    Canvas, through both, only through JWTs, and the registered orgs seen in neither way; then lists
    the Canvas-only orgs (those to contact before Canvas can be retired) and the others.
    """

    async def action(stores: Stores) -> MigrationStatus:
        return await ActivityReports(stores).migration_status(days=days, limit=limit)

    status = run_with_stores(action)
    if as_json:
        echo_json(_status_view(status))
        return
    counts = status.counts
    click.echo(f"last {status.days} days, {status.registered} registered orgs")
    click.echo(f"canvas-only  {counts.canvas_only}")
    click.echo(f"both         {counts.both}")
    click.echo(f"jwt-only     {counts.jwt_only}")
    click.echo(f"no traffic   {status.silent}")
    for category in MIGRATION_CATEGORIES:
        for org in status.orgs[category]:
            last = org.last_canvas if category == "canvas-only" else org.last_jwt
            click.echo(f"{category}  {clean(org.org_id)}  last seen {iso(last) if last is not None else '-'}")
