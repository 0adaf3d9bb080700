"""``forcegate demo``: the service end to end on a throwaway data folder (see :mod:`forcegate.devtools.demo`)."""

from __future__ import annotations

import signal
import sys

import click

from forcegate.cli._extras import require_extra

__all__ = ["demo"]


@click.command()
@click.option("--keep", is_flag=True, help="Keep the temporary folder (data folder, service output, certificate).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port for the service [default: a free one].")
@click.option("--verbose", "-v", is_flag=True, help="Also print the service's own output.")
def demo(keep: bool, port: int | None, verbose: bool) -> None:
    """Start the service on a temporary data folder and play Salesforce against it.

    Registers a Connected App and an org with a fresh certificate, then sends a Canvas signed
    request (its session checked at an emulated Salesforce), an Apex JWT exchanged for an access
    token, and an Apex JWT sent directly (and replayed), showing each request, answer and resulting
    identity; then the service logs in to the emulated Salesforce. Exits 0 only if every step
    succeeded; the service is stopped and the folder deleted on every way out.
    """
    # The demo runs `forcegate serve` and the emulated Salesforce, and talks to both over HTTP.
    require_extra("demo", "server", "uvicorn", "starlette", "httpx")
    # Imported here so `forcegate --help` does not load the development tools and the HTTP client.
    from forcegate.devtools.demo import DemoOptions, run_demo
    from forcegate.devtools.demo.service import Terminated, terminate_on_sigterm

    options = DemoOptions(keep=keep, port=port, verbose=verbose)
    try:
        with terminate_on_sigterm():
            status = run_demo(options, echo=click.echo, echo_err=lambda line: click.echo(line, err=True))
    except Terminated as exc:
        # The service is stopped and the folder removed by now (finally blocks ran); report as a
        # shell would for a process ended by that signal.
        signum = int(exc.args[0]) if exc.args else signal.SIGTERM
        click.echo(f"forcegate demo: stopped by {signal.Signals(signum).name}", err=True)
        sys.exit(128 + signum)
    if status != 0:
        sys.exit(status)
