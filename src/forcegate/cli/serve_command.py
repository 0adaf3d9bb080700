"""``forcegate serve``: run the service (uvicorn) on the configured stores.

Before any worker starts, the parent process brings the data folder up to date (schema, signing
key, admin token) — see :mod:`forcegate.service.bootstrap` — then hands the settings to the workers
through ``FORCEGATE_*`` environment variables, the same way the registry commands read them.

Each worker serves with :class:`forcegate.server.protocol.LimitedHttpToolsProtocol`: uvicorn's
httptools protocol with a deadline and a size cap for request heads and a cap on open connections
(decision 0012), checked against the open-file limit, which ``serve`` first raises as far as allowed.

The listening socket is bound first, before the data folder is touched, with uvicorn's own options
(``SO_REUSEADDR``, inheritable), listened on, and handed to uvicorn: to its one server, or to the
supervisor of its workers, which all accept on it. A port in use is one line and exit 2, like any
other setting that cannot be used, and the port stays held from that check until the service
answers on it. Logging is configured through uvicorn (``log_config``, in the parent and in every
worker) from ``log_format``: see :mod:`forcegate.server.logs`. A misspelt ``FORCEGATE_*`` setting is
refused by :func:`~forcegate.settings.load_settings`; other unknown names are printed as warnings.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from forcegate.cli._extras import require_extra
from forcegate.settings import ENV_PREFIX, Settings, environment_warnings, load_settings

if TYPE_CHECKING:  # the server stack is imported only when serve runs
    from forcegate.server.limits import ConnectionLimits

__all__ = ["serve"]

#: The host and port cannot be listened on: a setting that cannot be used, like the other exit-2 cases.
EXIT_CANNOT_LISTEN = 2
#: uvicorn's own code when the service bound its port but could not start (its lifespan failed).
EXIT_STARTUP_FAILED = 3


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
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="text: uvicorn's lines, and each authentication decision in development mode; json: one JSON "
    "object per line on standard error, decisions included [default: text].",
)
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
    log_format: str | None,
) -> None:
    """Run the forcegate service (SQLite in the data folder unless --database-url says otherwise)."""
    # The service is the `server` extra; without it, say so before anything is set up. httptools:
    # the connection limits are built on uvicorn's httptools protocol (uvicorn[standard] brings it).
    require_extra("serve", "server", "uvicorn", "starlette", "httpx", "httptools")
    from forcegate.server.limits import connection_limits, raise_open_file_limit
    from forcegate.server.logs import log_config
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
        "log_format": log_format,
    }
    settings = load_settings(None, **overrides)  # a misspelt FORCEGATE_* setting is refused here
    for warning in environment_warnings():
        click.echo(f"forcegate: warning: {warning}", err=True)
    # Before anything is created: a cap that does not fit the open-file limit refuses the start.
    limits = connection_limits(settings, raise_open_file_limit())
    with _listen(settings.host, settings.port) as sock:
        result = asyncio.run(bootstrap(settings))
        where = _describe_stores(settings)
        click.echo(f"forcegate: serving {settings.public_url} from the {where}")
        if result.signing_key_created:
            click.echo(f"forcegate: created access-token signing key {result.signing_key_created}")
        if result.admin_token:
            click.echo("forcegate: admin token (shown once; `forcegate admin rotate-token` makes a new one):")
            click.echo(result.admin_token)
        click.echo(f"forcegate: {_describe_limits(limits)}")
        workers_text = "1 worker" if settings.workers == 1 else f"{settings.workers} workers"
        click.echo(f"forcegate: listening on {_address(settings.host, settings.port)} ({workers_text}; Ctrl-C stops)")
        # Workers are separate processes: they read the same settings from the environment. Exported
        # only now, once the settings proved usable, so a refused start leaves the environment alone.
        for name, value in overrides.items():
            if value is not None:
                os.environ[ENV_PREFIX + name.upper()] = str(value)
        os.environ[ENV_PREFIX + "PUBLIC_URL"] = settings.public_url
        decisions = settings.development or settings.log_format == "json"
        _run_uvicorn(
            sock,
            app="forcegate.server.app:create_app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=log_config(log_format=settings.log_format, level=log_level, decisions=decisions),
            log_level=log_level,
            access_log=access_log,
            proxy_headers=False,
            server_header=False,
            # A factory, pickled into each worker with the limits (uvicorn only calls what it is given).
            http=http_protocol(limits),
        )


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound as uvicorn binds its own (``Config.bind_socket``), or exit 2 with one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening at once holds the port (bound sockets that all set SO_REUSEADDR may share a port
        # until one listens); uvicorn listens on it again with its backlog. A connection made while
        # the data folder is set up waits in the queue.
        sock.listen()
    except OSError as exc:
        sock.close()
        click.echo(f"forcegate: cannot listen on {_address(host, port)}: {_why_not(exc)}", err=True)
        sys.exit(EXIT_CANNOT_LISTEN)
    sock.set_inheritable(True)  # the workers accept on it
    return sock


def _why_not(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve (choose another with --host)"
    if exc.errno == errno.EADDRINUSE:
        return "the address is in use (another forcegate serve? choose another with --port)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "the address is not one of this machine's (choose another with --host)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges; choose another with --port)"
    return exc.strerror or str(exc)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _run_uvicorn(sock: socket.socket, *, app: str, **options: Any) -> None:
    """What ``uvicorn.run`` does, on the socket already bound: one server, or the supervisor of the
    workers (each accepts on it); a service that bound but could not start exits 3, as uvicorn does."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(EXIT_STARTUP_FAILED)


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
