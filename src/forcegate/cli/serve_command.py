"""``forcegate serve``: run the service (uvicorn) on the configured stores.

Before any worker starts, the parent process brings the data folder up to date (schema, signing
key, admin token) — see :mod:`forcegate.service.bootstrap` — then hands the settings to the workers
through ``FORCEGATE_*`` environment variables, the same way the registry commands read them.

Each worker serves with :class:`forcegate.server.protocol.LimitedHttpToolsProtocol`: uvicorn's
httptools protocol with a deadline and a size cap for request heads and a cap on open connections
(decision 0012), checked against the open-file limit, which ``serve`` first raises as far as allowed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from forcegate.cli._extras import require_extra
from forcegate.settings import ENV_PREFIX, Settings, load_settings

if TYPE_CHECKING:  # the server stack is imported only when serve runs
    from forcegate.server.limits import ConnectionLimits

__all__ = ["serve"]


@click.command()
@click.option("--host", help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, help="TCP port [default: 8000].")
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data folder [default: ./.forcegate]."
)
@click.option("--database-url", help="Database URL [default: sqlite:///DATA_DIR/forcegate.db].")
@click.option("--public-url", help="The URL Salesforce reaches this service at (audiences derive from it).")
@click.option("--workers", type=int, help="Worker processes [default: 1].")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Upgrade an outdated database schema before starting [default: refuse to start; "
    "see `forcegate db upgrade`]. A new, empty database is always set up.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every HTTP request.")
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    database_url: str | None,
    public_url: str | None,
    workers: int | None,
    migrate: bool | None,
    log_level: str,
    access_log: bool,
) -> None:
    """Run the forcegate service (SQLite in the data folder unless --database-url says otherwise)."""
    # The service is the `server` extra; without it, say so before anything is set up. httptools:
    # the connection limits are built on uvicorn's httptools protocol (uvicorn[standard] brings it).
    require_extra("serve", "server", "uvicorn", "starlette", "httpx", "httptools")
    import uvicorn

    from forcegate.server.limits import connection_limits, raise_open_file_limit
    from forcegate.server.protocol import http_protocol
    from forcegate.service.bootstrap import bootstrap

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "database_url": database_url,
        "public_url": public_url,
        "workers": workers,
        "migrate": migrate,
    }
    settings = load_settings(None, **overrides)
    # Before anything is created: a cap that does not fit the open-file limit refuses the start.
    limits = connection_limits(settings, raise_open_file_limit())
    result = asyncio.run(bootstrap(settings))
    where = _describe_stores(settings)
    click.echo(f"forcegate: serving {settings.public_url} from the {where}")
    if result.signing_key_created:
        click.echo(f"forcegate: created access-token signing key {result.signing_key_created}")
    if result.admin_token:
        click.echo("forcegate: admin token (shown once; `forcegate admin rotate-token` makes a new one):")
        click.echo(result.admin_token)
    click.echo(f"forcegate: {_describe_limits(limits)}")
    # Workers are separate processes: they read the same settings from the environment. Exported
    # only now, once the settings proved usable, so a refused start leaves the environment alone.
    for name, value in overrides.items():
        if value is not None:
            os.environ[ENV_PREFIX + name.upper()] = str(value)
    os.environ[ENV_PREFIX + "PUBLIC_URL"] = settings.public_url
    uvicorn.run(
        "forcegate.server.app:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
        # A factory, pickled into each worker with the limits (uvicorn only calls what it is given).
        http=http_protocol(limits),
    )


def _describe_limits(limits: ConnectionLimits) -> str:
    cap = f"at most {limits.max_connections:,} open" if limits.max_connections else "no cap on open connections"
    return (
        f"request heads within {limits.header_read_timeout:g} s and {limits.max_header_bytes:,} bytes, "
        f"bodies within {limits.body_read_timeout:g} s more; {cap} per worker"
    )


def _describe_stores(settings: Settings) -> str:
    """Where the state lives, for the start-up line; never the URLs themselves (they may hold passwords)."""
    if settings.database_url is None:
        return f"data folder {settings.data_dir.resolve()}"
    backend = settings.database_url.split(":", 1)[0]
    return f"{backend} database" + (" and Redis" if settings.redis_url else "")
