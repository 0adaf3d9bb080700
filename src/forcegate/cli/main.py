"""The ``forcegate`` command.

Exit codes (scripts depend on them): 0 success; 1 the input was read, checked and rejected — by a
verifier, or by the registry's validation and policy (a weak or expired key, a short consumer
secret, an unknown org) — with one line ``forcegate: <code>: <reason>`` on standard error; 2 usage
errors, settings that are wrong, and input that cannot be read (missing file, unset variable,
undecodable key material, a wrong keystore password), among them ``forcegate: no_store: no forcegate
store at DIR (run forcegate init, or give --data-dir)`` from a registry command where there is no
store (only ``forcegate init`` and ``forcegate serve`` create one).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from forcegate import __version__
from forcegate.cli.admin_commands import admin
from forcegate.cli.apps_commands import apps
from forcegate.cli.audit_commands import audit
from forcegate.cli.canvas_commands import canvas
from forcegate.cli.certs_commands import certs
from forcegate.cli.db_commands import db
from forcegate.cli.demo_command import demo
from forcegate.cli.enrollments_commands import enrollments
from forcegate.cli.init_command import init
from forcegate.cli.jwt_commands import jwt
from forcegate.cli.keys_commands import keys
from forcegate.cli.notifications_commands import notifications
from forcegate.cli.orgs_commands import orgs
from forcegate.cli.serve_command import serve
from forcegate.cli.sfdx_commands import sfdx
from forcegate.errors import ConfigurationError, ForcegateError, KeyMaterialError, WeakKeyError

__all__ = ["cli", "main"]

EXIT_REJECTED = 1
EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forcegate")
def cli() -> None:
    """Let a web service trust calls from Salesforce orgs: Canvas signed requests, Apex-signed JWTs."""


cli.add_command(init)
cli.add_command(keys)
cli.add_command(canvas)
cli.add_command(jwt)
cli.add_command(apps)
cli.add_command(orgs)
cli.add_command(certs)
cli.add_command(enrollments)
cli.add_command(notifications)
cli.add_command(audit)
cli.add_command(admin)
cli.add_command(db)
cli.add_command(serve)
cli.add_command(demo)
cli.add_command(sfdx)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI, mapping forcegate errors to the documented exit codes."""
    try:
        status = cli.main(args=list(argv) if argv is not None else None, prog_name="forcegate", standalone_mode=False)
    except ForcegateError as exc:
        # Key material that cannot be read and configuration problems are usage, not a verdict; a key
        # that was read and found weak is a verdict like any other policy refusal.
        unreadable = isinstance(exc, KeyMaterialError) and not isinstance(exc, WeakKeyError)
        code = EXIT_USAGE if unreadable or isinstance(exc, ConfigurationError) else EXIT_REJECTED
        click.echo(f"forcegate: {exc.code}: {exc.reason}", err=True)
        sys.exit(code)
    except click.exceptions.Abort:
        click.echo("forcegate: aborted", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    if isinstance(status, int) and status != 0:  # --help / --version end through click's Exit
        sys.exit(status)


if __name__ == "__main__":
    main()
