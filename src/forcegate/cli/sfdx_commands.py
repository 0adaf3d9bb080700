"""``forcegate sfdx``: the Salesforce side of forcegate as SFDX source."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["sfdx"]

# forcegate.devtools.sfdx.DEFAULT_CERT_NAME, spelled out so that building the command (for `forcegate
# --help`) does not import the development tools; tests/cli/test_sfdx_command.py keeps them equal.
DEFAULT_CERT_NAME = "forcegate_jwt"


@click.group()
def sfdx() -> None:
    """Salesforce DX source for the org's side: Apex, a Lightning Web Component, metadata."""


@sfdx.command("scaffold")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The SFDX project folder; files go under DIR/force-app/main/default/ (created if missing).",
)
@click.option(
    "--service-url",
    required=True,
    help="The service's base URL (FORCEGATE_PUBLIC_URL, with the path it is mounted under if any; not an "
    "endpoint URL): Apex exchanges at SERVICE_URL/oauth2/token. Stored in protected custom metadata.",
)
@click.option("--namespace", help="The package's namespace prefix, where Salesforce requires it (default: none).")
@click.option(
    "--cert-name",
    default=DEFAULT_CERT_NAME,
    show_default=True,
    help="Default Unique Name of the certificate in Certificate and Key Management that signs the JWT; each "
    "org may set another in the Forcegate Settings custom setting.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def sfdx_scaffold(directory: Path, service_url: str, namespace: str | None, cert_name: str, force: bool) -> None:
    """Write ForcegateClient (Auth.JWT + Auth.JWS + JWTBearerTokenExchange, session cache), an
    @AuraEnabled controller, the forcegateIdentity LWC, the admin's forcegateSetup page, Apex tests,
    the Canvas lifecycle handler, the Forcegate User and Forcegate Admin permission sets, the
    configuration (protected custom metadata, a custom setting), Remote Site and CSP Trusted Site
    settings and a cache partition; print each file written.

    Adds a minimal sfdx-project.json when DIR has none. See docs/migrating-from-canvas.md and
    docs/security-review.md.
    """
    from forcegate.devtools.sfdx import plan_scaffold, write_scaffold

    plan = plan_scaffold(directory, service_url=service_url, namespace=namespace, cert_name=cert_name)
    for path in write_scaffold(plan, force=force):
        click.echo(str(path))
