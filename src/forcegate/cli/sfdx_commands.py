"""``forcegate sfdx``: the Salesforce side of forcegate as SFDX source."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["sfdx"]

# forcegate.devtools.sfdx.DEFAULT_CERT_NAME, CALLOUT_MODES and DEFAULT_ISSUER, spelled out so that
# building the command (for `forcegate --help`) does not import the development tools;
# tests/cli/test_sfdx_command.py keeps them equal.
DEFAULT_CERT_NAME = "forcegate_jwt"
CALLOUT_MODES = ("apex", "named-credential")
DEFAULT_ISSUER = "forcegate-package"


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
@click.option(
    "--callout",
    type=click.Choice(CALLOUT_MODES),
    default="apex",
    show_default=True,
    help="apex: Apex signs, exchanges and attaches the token per call (per-call claims: params, record_id); "
    "named-credential: an External Credential (OAuth 2.0 JWT Bearer Flow) and a Named Credential do it "
    "(docs/decisions/0020-named-credential-mode.md).",
)
@click.option(
    "--issuer",
    default=DEFAULT_ISSUER,
    show_default=True,
    help="named-credential mode: the External Credential's iss, the same for every subscriber org; list it "
    "among each org's issuers (forcegate orgs update ORG_ID --issuer ORG_ID --issuer ISSUER).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def sfdx_scaffold(
    directory: Path, service_url: str, namespace: str | None, cert_name: str, callout: str, issuer: str, force: bool
) -> None:
    """Write ForcegateClient (the calls to the service: Apex's Auth.JWT + Auth.JWS +
    JWTBearerTokenExchange and session cache, or a Named Credential), ForcegateEnrollment, an
    @AuraEnabled controller, the forcegateIdentity LWC, the admin's forcegateSetup page, Apex tests,
    the Canvas lifecycle handler, the Forcegate User and Forcegate Admin permission sets, the
    configuration (protected custom metadata, a custom setting), a CSP Trusted Site and, per callout
    mode, a Remote Site Setting and a cache partition, or the External and Named Credentials; print
    each file written.

    Adds a minimal sfdx-project.json when DIR has none. See docs/migrating-from-canvas.md and
    docs/security-review.md.
    """
    from forcegate.devtools.sfdx import plan_scaffold, write_scaffold

    plan = plan_scaffold(
        directory, service_url=service_url, namespace=namespace, cert_name=cert_name, callout=callout, issuer=issuer
    )
    for path in write_scaffold(plan, force=force):
        click.echo(str(path))
