"""``forcegate admin``: the service's own credentials."""

from __future__ import annotations

import secrets

import click

from forcegate.cli._stores import run_with_stores
from forcegate.stores.bundle import Stores

__all__ = ["admin"]


@click.group()
def admin() -> None:
    """The credential of the admin API and console."""


@admin.command("rotate-token")
def admin_rotate_token() -> None:
    """Make a new admin token and print it; the previous one stops working.

    Only a digest is stored: keep the printed token, or rotate again to recover from losing it.
    """
    token = secrets.token_urlsafe(32)

    async def action(stores: Stores) -> None:
        await stores.keys.set_admin_token(token)

    run_with_stores(action)
    click.echo(token)
    click.echo("forcegate: note: the previous admin token no longer works", err=True)
