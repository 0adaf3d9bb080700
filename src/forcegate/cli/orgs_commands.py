"""``forcegate orgs``: the Salesforce orgs the service trusts, and what each may assert.

The options are read into the registry's input models (:mod:`forcegate.registry.inputs`); the
registry checks them exactly as it checks the admin API's JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from forcegate.cli._io import UnreadableInput
from forcegate.cli._org_csv import read_org_ids
from forcegate.cli._stores import clean, echo_json, run_with_registry, store_option
from forcegate.cli.certs_commands import certificate_line
from forcegate.cli.console_commands import migration_status
from forcegate.registry import Actor, OrgChanges, OrgDetails, OrgInput, RegistryService
from forcegate.registry.views import iso, org_details_view, org_view
from forcegate.stores.models import Org

__all__ = ["orgs"]

F = TypeVar("F", bound=Callable[..., Any])

_ORG_ARGUMENT = click.argument("org", metavar="ORG_ID")


def _json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def _lifetime(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    """Seconds, or ``default`` (returned as ``None``) for the service-wide setting."""
    if value is None or value == "default":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number of seconds nor 'default'") from None


def _trust_options(function: F) -> F:
    """The options ``add`` and ``update`` share: what the org's assertions may carry."""
    options = [
        click.option(
            "--issuer",
            "issuers",
            multiple=True,
            metavar="ISS",
            help="Accepted iss value; repeatable. Default: the org id only (list it too when adding others). A "
            "consumer key or a Named Credential's static issuer here lets assertions with that iss name this org "
            "in org_id.",
        ),
        click.option("--scope", "scopes", multiple=True, metavar="S", help="Scope tokens may carry; repeatable."),
        click.option(
            "--subject",
            "subjects",
            multiple=True,
            metavar="S",
            help="Accepted sub value (username or user id); repeatable. Default: any subject.",
        ),
        click.option(
            "--app",
            "apps",
            multiple=True,
            metavar="CONSUMER_KEY",
            help="A Connected App whose Canvas signed requests may open sessions for this org; repeatable. "
            "Without one, only apps registered with --any-org can (the weaker legacy model).",
        ),
        click.option(
            "--algorithm",
            "algorithms",
            multiple=True,
            metavar="ALG",
            help="JWS algorithm its assertions may use; repeatable. Default: RS256 (what Auth.JWS signs with). "
            "RS512 for External Credentials set so; ES256, EdDSA and the other asymmetric ones are possible.",
        ),
        click.option(
            "--max-assertion-lifetime",
            callback=_lifetime,
            metavar="SECONDS|default",
            help="Longest JWT lifetime (exp - iat) accepted from this org; 'default': the service setting.",
        ),
        click.option(
            "--token-lifetime",
            callback=_lifetime,
            metavar="SECONDS|default",
            help="Lifetime of access tokens issued to this org; 'default': the service setting.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group()
def orgs() -> None:
    """Trusted Salesforce orgs (their certificates: forcegate certs).

    ORG_ID may be given in 15 or 18 characters; the registry keeps the 18-character form.
    """


@orgs.command("add")
@store_option
@_ORG_ARGUMENT
@click.option("--name", default="", help="A name for people (default: none).")
@_trust_options
@click.option("--disabled", is_flag=True, help="Register the org disabled: every request from it is refused.")
def orgs_add(
    org: str,
    name: str,
    issuers: tuple[str, ...],
    scopes: tuple[str, ...],
    subjects: tuple[str, ...],
    apps: tuple[str, ...],
    algorithms: tuple[str, ...],
    max_assertion_lifetime: int | None,
    token_lifetime: int | None,
    disabled: bool,
) -> None:
    """Register an org; prints its 18-character id."""
    given = OrgInput(
        org_id=org,
        name=name,
        enabled=not disabled,
        issuers=issuers,
        subjects=subjects or None,
        scopes=scopes,
        apps=apps,
        **({"algorithms": algorithms} if algorithms else {}),
        max_assertion_lifetime=max_assertion_lifetime,
        token_lifetime=token_lifetime,
    )

    async def action(registry: RegistryService) -> Org:
        return await registry.add_org(given)

    click.echo(run_with_registry(action).org_id)


@orgs.command("list")
@store_option
@_json_option
def orgs_list(as_json: bool) -> None:
    """List the orgs.

    One line each, by id: ORG_ID enabled|disabled NAME.
    """

    async def action(registry: RegistryService) -> list[Org]:
        return [org async for org in registry.all_orgs()]

    found = run_with_registry(action)
    if as_json:
        echo_json([org_view(record) for record in found])
        return
    for record in found:
        click.echo(f"{record.org_id}  {'enabled' if record.enabled else 'disabled'}  {clean(record.name)}")


@orgs.command("show")
@store_option
@_ORG_ARGUMENT
@_json_option
def orgs_show(org: str, as_json: bool) -> None:
    """Show an org and its certificates (fingerprint, state, not_after, label).

    A certificate trusted for other orgs too is marked "shared": any of those orgs can sign as this one.
    """

    async def action(registry: RegistryService) -> tuple[OrgDetails, dict[str, list[str]]]:
        details = await registry.get_org(org)
        shared = {
            c.sha256_fingerprint: [h for h in await registry.certificate_holders(c.sha256_fingerprint) if h != c.org_id]
            for c in details.certificates
            if c.shared
        }
        return details, shared

    details, shared = run_with_registry(action)
    record, certificates = details.org, details.certificates
    if as_json:
        echo_json(org_details_view(details))
        return
    policy = record.policy
    lines = {
        "org_id": record.org_id,
        "name": clean(record.name),
        "enabled": str(record.enabled).lower(),
        "issuers": " ".join(clean(issuer) for issuer in sorted(record.allowed_issuers)),
        "subjects": "(any)" if record.subjects is None else " ".join(clean(s) for s in record.subjects),
        "scopes": " ".join(record.scopes) or "(none)",
        "algorithms": " ".join(record.algorithms),
        "apps": " ".join(details.apps) or "(none: only any-org apps reach it through Canvas)",
        "max_assertion_lifetime": policy.max_assertion_lifetime or "(service default)",
        "token_lifetime": policy.token_lifetime or "(service default)",
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "certificates": len(certificates),
    }
    for field, value in lines.items():
        click.echo(f"{field}: {value}")
    for certificate in certificates:
        click.echo("  " + certificate_line(certificate))
        others = shared.get(certificate.sha256_fingerprint)
        if others is not None:
            click.echo(f"    shared with: {' '.join(others) or '(no other org now)'}: any of them can sign as this org")


def _set_enabled(org: str, enabled: bool) -> None:
    async def action(registry: RegistryService) -> Org:
        return await registry.set_enabled(org, enabled)

    record = run_with_registry(action)
    click.echo(f"org {record.org_id} {'enabled' if record.enabled else 'disabled'}")


@orgs.command("enable")
@store_option
@_ORG_ARGUMENT
def orgs_enable(org: str) -> None:
    """Accept requests from an org again."""
    _set_enabled(org, True)


@orgs.command("disable")
@store_option
@_ORG_ARGUMENT
def orgs_disable(org: str) -> None:
    """Refuse every request from an org, keeping its records.

    Canvas requests, JWTs and access tokens already issued to it are all refused.
    """
    _set_enabled(org, False)


@orgs.command("update")
@store_option
@_ORG_ARGUMENT
@click.option("--name", default=None, help="New name.")
@_trust_options
@click.option("--no-issuers", is_flag=True, help="Clear the issuers: accept the org id only.")
@click.option("--no-scopes", is_flag=True, help="Clear the scopes.")
@click.option("--no-apps", is_flag=True, help="Unbind every Canvas app: only any-org apps still reach the org.")
@click.option("--any-subject", is_flag=True, help="Accept any subject.")
@click.pass_context
def orgs_update(
    ctx: click.Context,
    org: str,
    name: str | None,
    issuers: tuple[str, ...],
    scopes: tuple[str, ...],
    subjects: tuple[str, ...],
    apps: tuple[str, ...],
    algorithms: tuple[str, ...],
    max_assertion_lifetime: int | None,
    token_lifetime: int | None,
    no_issuers: bool,
    no_scopes: bool,
    no_apps: bool,
    any_subject: bool,
) -> None:
    """Change some fields of an org; the others stay as they are. Lists given replace the org's."""
    for many, none, flag in ((issuers, no_issuers, "issuer"), (scopes, no_scopes, "scope"), (apps, no_apps, "app")):
        if many and none:
            raise click.UsageError(f"--{flag} and --no-{flag}s exclude each other")
    if subjects and any_subject:
        raise click.UsageError("--subject and --any-subject exclude each other")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if issuers or no_issuers:
        changes["issuers"] = issuers
    if scopes or no_scopes:
        changes["scopes"] = scopes
    if subjects or any_subject:
        changes["subjects"] = subjects or None
    if apps or no_apps:
        changes["apps"] = apps
    if algorithms:
        changes["algorithms"] = algorithms
    for option, value in (("max_assertion_lifetime", max_assertion_lifetime), ("token_lifetime", token_lifetime)):
        if ctx.get_parameter_source(option) is click.core.ParameterSource.COMMANDLINE:
            changes[option] = value
    if not changes:
        raise click.UsageError("nothing to update: give at least one option")
    given = OrgChanges(**changes)

    async def action(registry: RegistryService) -> Org:
        return await registry.update_org(org, given)

    record = run_with_registry(action)
    click.echo(f"org {record.org_id} updated")


@orgs.command("remove")
@store_option
@_ORG_ARGUMENT
def orgs_remove(org: str) -> None:
    """Remove an org and its certificates: it is unknown to the service from now on."""

    async def action(registry: RegistryService) -> str:
        found = await registry.org(org)
        await registry.remove_org(found.org_id)
        return found.org_id

    click.echo(f"org {run_with_registry(action)} removed")


@orgs.command("import")
@store_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--column", help="The header of the org-id column (default: the first that reads like one).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def orgs_import(file: Path, column: str | None, as_json: bool) -> None:
    """Pre-approve the orgs of a CSV file for enrollment (the approval list).

    FILE is a CSV with an org-id column, e.g. an export of the License Management App's licenses;
    ids of 15 or 18 characters. All are added in one transaction, or none (a line that is not an org
    id refuses the file). An imported org is NOT registered or trusted: it trusts nothing until it
    enrolls a certificate, which then activates without waiting for you under
    enrollment_policy = listed. Prints how many ids were read and how many were new.
    """
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInput(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
    org_ids, empty = read_org_ids(text, column=column)
    actor = Actor(entry="cli", credential="local")

    async def action(registry: RegistryService) -> int:
        return await registry.enrollments.import_orgs(org_ids, source=file.name, actor=actor)

    added = run_with_registry(action)
    if as_json:
        echo_json({"read": len(org_ids), "added": added, "empty_cells": empty})
        return
    click.echo(f"{len(org_ids)} org id(s) read, {added} new on the approval list")


orgs.add_command(migration_status)
