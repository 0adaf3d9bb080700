"""``forcegate serve``: run the service (uvicorn) on the configured stores.

Before any worker starts, the parent process brings the data folder up to date (schema, signing
key, admin token) — see :mod:`forcegate.service.bootstrap` — then hands the settings to the workers
through ``FORCEGATE_*`` environment variables, the same way the registry commands read them.

Each worker serves with :class:`forcegate.server.protocol.LimitedHttpToolsProtocol`: uvicorn's
httptools protocol with a deadline and a size cap for request heads and a cap on open connections
(decision 0012), checked against the open-file limit, which ``serve`` first raises as far as allowed.

The port is bound first, before the data folder is touched, with uvicorn's own options
(``SO_REUSEADDR``): a port in use is one line and exit 2, like any other setting that cannot be used,
and the port stays held from that check until the service answers on it. One worker listens on that
socket at once. Several workers each listen on a socket of their own, bound to the same address with
``SO_REUSEPORT``, so the kernel spreads new connections over them evenly: on one shared socket, the
worker that wakes first accepts a burst of keep-alive connections and keeps them, and two workers did
not use two cores (decision 0016). The parent's socket then only holds the port (bound, never listening, so no
connection waits on it). Logging is configured through uvicorn (``log_config``, in the parent and in every
worker) from ``log_format``: see :mod:`forcegate.server.logs`. A misspelt ``FORCEGATE_*`` setting is
refused by :func:`~forcegate.settings.load_settings`; other unknown names are printed as warnings.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from forcegate.cli._extras import require_extra
from forcegate.settings import ENV_PREFIX, Settings, environment_warnings, load_settings

#: prometheus-client's multiprocess folder (forcegate.server.metrics.MULTIPROCESS_VARIABLE; not imported
#: from there, which would load prometheus-client into every command).
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

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
    with _listen(settings.host, settings.port, share=settings.workers > 1) as sock:
        result = asyncio.run(bootstrap(settings))
        where = _describe_stores(settings)
        click.echo(f"forcegate: serving {settings.public_url} from the {where}")
        if result.signing_key_created:
            click.echo(f"forcegate: created access-token signing key {result.signing_key_created}")
        if result.admin_token:
            click.echo("forcegate: admin token (shown once; `forcegate admin rotate-token` makes a new one):")
            click.echo(result.admin_token)
        click.echo(f"forcegate: {_describe_limits(limits)}")
        if settings.metrics:
            protected = "Bearer metrics_token" if settings.metrics_token else "open: set metrics_token to protect it"
            click.echo(f"forcegate: Prometheus metrics at {settings.public_url}/metrics ({protected})")
        workers_text = "1 worker" if settings.workers == 1 else f"{settings.workers} workers"
        click.echo(f"forcegate: listening on {_address(settings.host, settings.port)} ({workers_text}; Ctrl-C stops)")
        # Workers are separate processes: they read the same settings from the environment. Exported
        # only now, once the settings proved usable, so a refused start leaves the environment alone.
        for name, value in overrides.items():
            if value is not None:
                os.environ[ENV_PREFIX + name.upper()] = str(value)
        os.environ[ENV_PREFIX + "PUBLIC_URL"] = settings.public_url
        decisions = settings.development or settings.log_format == "json"
        with _metrics_folder(settings):
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


@contextlib.contextmanager
def _metrics_folder(settings: Settings) -> Iterator[None]:
    """With several workers, where each writes its metrics for any of them to answer a scrape
    (:mod:`forcegate.server.metrics`): the operator's ``PROMETHEUS_MULTIPROC_DIR``, emptied of an
    earlier run's forcegate files, or a folder of this run's own."""
    if not settings.metrics or settings.workers == 1:
        yield
        return
    given = os.environ.get(MULTIPROCESS_VARIABLE)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("forcegate_metrics_*"):  # an earlier run's counts would add to this one's
            stale.unlink()
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="forcegate-metrics-"))
    os.environ[MULTIPROCESS_VARIABLE] = str(folder)  # before any worker starts: they read it at import
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_VARIABLE, None)
        shutil.rmtree(folder, ignore_errors=True)


def _listen(host: str, port: int, *, share: bool = False) -> socket.socket:
    """The socket bound to the service's address, as uvicorn binds its own (``Config.bind_socket``),
    or exit 2 with one line. Listening at once, unless ``share``: then it holds the port for the
    workers' own ``SO_REUSEPORT`` sockets (:class:`_WorkerSocket`) and is never listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if share:
            # Not SO_REUSEADDR: two sockets that both set it may share a port while neither listens,
            # so another server could take the port this one never listens on. Only sockets that set
            # SO_REUSEPORT, of this user (Linux's rule), may join it: the workers'.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if not share:
            # Listening at once holds the port (bound sockets that all set SO_REUSEADDR may share a
            # port until one listens); uvicorn listens on it again with its backlog. A connection
            # made while the data folder is set up waits in the queue.
            sock.listen()
    except OSError as exc:
        sock.close()
        click.echo(f"forcegate: cannot listen on {_address(host, port)}: {_why_not(exc)}", err=True)
        sys.exit(EXIT_CANNOT_LISTEN)
    sock.set_inheritable(not share)  # one worker accepts on it; several have their own
    return sock


class _WorkerSocket:
    """The socket uvicorn's supervisor hands each worker it starts (a replacement too): pickled into
    the worker process as a new socket of that worker's own, bound with ``SO_REUSEPORT`` to the
    address the parent holds (uvicorn's server listens on it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return (_reuse_port_socket, (self.host, self.port))


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """Called in a worker as it starts (see :class:`_WorkerSocket`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
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
            # The port the parent bound (the one the system chose, for port 0), for each worker's socket.
            own = _WorkerSocket(config.host, sock.getsockname()[1])
            # uvicorn types the list as sockets; it only hands it to each worker, where it becomes one.
            Multiprocess(config, sockets=[own]).run()  # type: ignore[list-item]
        else:
            # uvicorn re-sends the signal that stopped it to the handler it found, once it has shut
            # down: by default that kills the process (exit 143 after SIGTERM), where the supervisor of
            # several workers exits 0. A clean stop is one exit status whatever the worker count.
            signal.signal(signal.SIGTERM, lambda *_: None)
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
