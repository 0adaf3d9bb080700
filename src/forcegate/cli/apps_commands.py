"""``forcegate apps``: the Connected Apps whose Canvas signed requests the service accepts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from forcegate.cli._stores import clean, echo_json, read_consumer_secret, run_with_stores
from forcegate.errors import NotFound
from forcegate.stores.bundle import Stores
from forcegate.stores.models import CONSUMER_KEY_PATTERN, App, AppSecret
from forcegate.stores.views import app_view

__all__ = ["apps"]

_MAX_KEEP_PREVIOUS = 10

F = TypeVar("F", bound=Callable[..., Any])


def _consumer_key(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not CONSUMER_KEY_PATTERN.fullmatch(value):
        raise click.BadParameter("a consumer key is 1 to 255 letters, digits, '.', '_', '-' or '~'")
    return value


_KEY_ARGUMENT = click.argument("consumer_key", callback=_consumer_key)


def _secret_options(function: F) -> F:
    function = click.option("--secret-file", metavar="F", help="File holding the consumer secret.")(function)
    return click.option("--secret-env", metavar="VAR", help="Environment variable holding the consumer secret.")(
        function
    )


@click.group()
def apps() -> None:
    """Connected Apps whose Canvas requests are accepted.

    Consumer secrets are read from a variable or file, stored encrypted, and never printed.
    """


def _active(secrets: Sequence[AppSecret]) -> list[AppSecret]:
    return [secret for secret in secrets if secret.active]


async def _require_app(stores: Stores, consumer_key: str) -> App:
    app = await stores.trust.get_app(consumer_key)
    if app is None:
        raise NotFound(f"no app with consumer key {consumer_key}")
    return app


@apps.command("add")
@_KEY_ARGUMENT
@click.option("--name", default="", help="A name for people (default: none).")
@_secret_options
@click.option(
    "--any-org",
    is_flag=True,
    help="Weaker: also accept Canvas requests from unregistered orgs (the legacy model, where the consumer "
    "secret alone vouches). Default: registered, enabled orgs only.",
)
def apps_add(consumer_key: str, name: str, secret_env: str | None, secret_file: str | None, any_org: bool) -> None:
    """Register an app and its consumer secret; prints CONSUMER_KEY."""
    secret = read_consumer_secret(secret_env, secret_file)

    async def action(stores: Stores) -> App:
        return await stores.trust.add_app(consumer_key=consumer_key, name=name, secret=secret, any_org=any_org)

    app = run_with_stores(action)
    if app.any_org:
        click.echo(f"forcegate: warning: app {app.consumer_key} accepts Canvas requests from any org", err=True)
    click.echo(app.consumer_key)


@apps.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def apps_list(as_json: bool) -> None:
    """List the apps.

    One line each: CONSUMER_KEY secrets=N any-org|registered-orgs NAME.
    """

    async def action(stores: Stores) -> list[dict[str, Any]]:
        found = await stores.trust.list_apps()
        return [app_view(app, _active(await stores.trust.app_secrets(app.consumer_key))) for app in found]

    rows = sorted(run_with_stores(action), key=lambda row: str(row["consumer_key"]))
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        trust = "any-org" if row["any_org"] else "registered-orgs"
        click.echo(f"{row['consumer_key']}  secrets={len(row['active_secrets'])}  {trust}  {clean(row['name'])}")


@apps.command("show")
@_KEY_ARGUMENT
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def apps_show(consumer_key: str, as_json: bool) -> None:
    """Show an app: how many secrets are active, and since when (never the secrets)."""

    async def action(stores: Stores) -> dict[str, Any]:
        app = await _require_app(stores, consumer_key)
        return app_view(app, _active(await stores.trust.app_secrets(consumer_key)))

    row = run_with_stores(action)
    if as_json:
        echo_json(row)
        return
    click.echo(f"consumer_key: {row['consumer_key']}")
    click.echo(f"name: {clean(row['name'])}")
    click.echo(f"any_org: {str(row['any_org']).lower()}")
    click.echo(f"created_at: {row['created_at']}")
    click.echo(f"active_secrets: {len(row['active_secrets'])}")
    for secret in row["active_secrets"]:
        click.echo(f"  secret {secret['id']}  created {secret['created_at']}")


@apps.command("rotate-secret")
@_KEY_ARGUMENT
@_secret_options
@click.option(
    "--keep-previous",
    type=click.IntRange(0, _MAX_KEEP_PREVIOUS),
    default=1,
    show_default=True,
    help="How many older secrets stay active beside the new one (0 retires them all now).",
)
def apps_rotate_secret(consumer_key: str, secret_env: str | None, secret_file: str | None, keep_previous: int) -> None:
    """Make a new consumer secret current.

    The newest --keep-previous older secrets stay valid while Salesforce switches over; the rest stop working.
    """
    secret = read_consumer_secret(secret_env, secret_file)

    async def action(stores: Stores) -> tuple[AppSecret, int]:
        await _require_app(stores, consumer_key)
        added = await stores.trust.add_app_secret(consumer_key, secret, keep_previous=keep_previous)
        return added, len(_active(await stores.trust.app_secrets(consumer_key)))

    added, active = run_with_stores(action)
    click.echo(f"app {consumer_key}: secret {added.id} is current; {active} active secret(s)")


@apps.command("remove")
@_KEY_ARGUMENT
def apps_remove(consumer_key: str) -> None:
    """Remove an app and its secrets: its Canvas requests are refused from now on."""

    async def action(stores: Stores) -> None:
        await _require_app(stores, consumer_key)
        await stores.trust.delete_app(consumer_key)

    run_with_stores(action)
    click.echo(f"app {consumer_key} removed")
