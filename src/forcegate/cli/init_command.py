"""``forcegate init``: create the store the registry commands work on.

The registry, audit, admin and db commands never create a store (a command run in the wrong folder
would otherwise start an empty registry there); ``forcegate init`` and ``forcegate serve`` do. It
does what the first ``serve`` does before serving: the schema, the access-token signing key and
the admin token (printed once). Running it on an existing store changes nothing that exists.
"""

from __future__ import annotations

import asyncio

import click

from forcegate.cli._stores import cli_settings, describe_store, store_option
from forcegate.stores.schema import schema_state

__all__ = ["init"]


@click.command("init")
@store_option
def init() -> None:
    """Create the store (the data folder's SQLite database, or FORCEGATE_DATABASE_URL's) and print where.

    Also creates the access-token signing key and the admin token (printed once), as the first
    `forcegate serve` would. On an existing store it only says so (exit 0).
    """
    from forcegate.service.bootstrap import bootstrap

    settings = cli_settings()
    existed = asyncio.run(schema_state(settings)).current > 0
    result = asyncio.run(bootstrap(settings))
    where = describe_store(settings)
    click.echo(f"forcegate: store {where} already exists" if existed else f"forcegate: created the store {where}")
    if result.signing_key_created:
        click.echo(f"forcegate: created access-token signing key {result.signing_key_created}")
    if result.admin_token:
        click.echo("forcegate: admin token (shown once; `forcegate admin rotate-token` makes a new one):")
        click.echo(result.admin_token)
