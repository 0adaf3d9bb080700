"""``forcegate orgs``: the Salesforce orgs the service trusts, and what each may assert."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from forcegate.cli._stores import clean, echo_json, org_id, run_with_stores
from forcegate.cli.certs_commands import certificate_line
from forcegate.core.ids import ORG_PREFIX, validate
from forcegate.errors import NotFound
from forcegate.stores.bundle import Stores
from forcegate.stores.models import CertificateRecord, Org, OrgPolicy
from forcegate.stores.protocols import UNSET
from forcegate.stores.views import iso, org_view

__all__ = ["orgs"]

F = TypeVar("F", bound=Callable[..., Any])

# RFC 6749 §3.3: a scope token is one or more NQCHAR (printable ASCII but space, '"' and '\').
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_MAX_LIFETIME = 86400
_PAGE = 500


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _scopes(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not _SCOPE.fullmatch(value):
            raise click.BadParameter(f"{value!r} is not a scope token (printable ASCII, no space, '\"' or '\\')")
    return _unique(values)


def _names(_ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not value or value != value.strip() or not value.isprintable():
            raise click.BadParameter(f"{value!r}: empty, or surrounded by spaces, or has control characters")
    return _unique(values)


def _lifetime(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    """Seconds, or ``default`` (returned as ``None``) for the service-wide setting."""
    if value is None or value == "default":
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number of seconds nor 'default'") from None
    if not 1 <= seconds <= _MAX_LIFETIME:
        raise click.BadParameter(f"{seconds} is outside 1..{_MAX_LIFETIME} seconds")
    return seconds


_ORG_ARGUMENT = click.argument("org", metavar="ORG_ID")


def _json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


async def _require_org(stores: Stores, org: str) -> Org:
    found = await stores.trust.get_org(org)
    if found is None:
        raise NotFound(f"no org {org} in the registry")
    return found


@click.group()
def orgs() -> None:
    """Trusted Salesforce orgs (their certificates: forcegate certs).

    ORG_ID may be given in 15 or 18 characters; the registry keeps the 18-character form.
    """


@orgs.command("add")
@_ORG_ARGUMENT
@click.option("--name", default="", help="A name for people (default: none).")
@click.option(
    "--issuer",
    "issuers",
    multiple=True,
    callback=_names,
    metavar="ISS",
    help="Accepted iss value; repeatable. Default: the org id only. A consumer key here lets assertions "
    "issued under that Connected App name this org.",
)
@click.option(
    "--scope", "scopes", multiple=True, callback=_scopes, metavar="S", help="Scope tokens may carry; repeatable."
)
@click.option(
    "--subject",
    "subjects",
    multiple=True,
    callback=_names,
    metavar="S",
    help="Accepted sub value (username or user id); repeatable. Default: any subject.",
)
@click.option("--disabled", is_flag=True, help="Register the org disabled: every request from it is refused.")
@click.option(
    "--max-assertion-lifetime",
    type=click.IntRange(1, _MAX_LIFETIME),
    metavar="SECONDS",
    help="Longest JWT lifetime (exp - iat) accepted from this org (default: the service setting).",
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(1, _MAX_LIFETIME),
    metavar="SECONDS",
    help="Lifetime of access tokens issued to this org (default: the service setting).",
)
def orgs_add(
    org: str,
    name: str,
    issuers: tuple[str, ...],
    scopes: tuple[str, ...],
    subjects: tuple[str, ...],
    disabled: bool,
    max_assertion_lifetime: int | None,
    token_lifetime: int | None,
) -> None:
    """Register an org; prints its 18-character id."""
    record = Org(
        org_id=validate(org, prefix=ORG_PREFIX),
        name=name,
        enabled=not disabled,
        issuers=issuers,
        subjects=subjects or None,
        scopes=scopes,
        policy=OrgPolicy(max_assertion_lifetime=max_assertion_lifetime, token_lifetime=token_lifetime),
    )

    async def action(stores: Stores) -> Org:
        return await stores.trust.add_org(record)

    click.echo(run_with_stores(action).org_id)


@orgs.command("list")
@_json_option
def orgs_list(as_json: bool) -> None:
    """List the orgs.

    One line each, by id: ORG_ID enabled|disabled NAME.
    """

    async def action(stores: Stores) -> list[Org]:
        found: list[Org] = []
        after: str | None = None
        # Until an empty page: a backend may cap the page size below what was asked for.
        while page := await stores.trust.list_orgs(limit=_PAGE, after=after):
            found.extend(page)
            after = page[-1].org_id
        return found

    found = run_with_stores(action)
    if as_json:
        echo_json([org_view(record) for record in found])
        return
    for record in found:
        click.echo(f"{record.org_id}  {'enabled' if record.enabled else 'disabled'}  {clean(record.name)}")


@orgs.command("show")
@_ORG_ARGUMENT
@_json_option
def orgs_show(org: str, as_json: bool) -> None:
    """Show an org and its certificates (fingerprint, state, not_after, label)."""
    wanted = org_id(org)

    async def action(stores: Stores) -> tuple[Org, Sequence[CertificateRecord]]:
        record = await _require_org(stores, wanted)
        return record, await stores.trust.list_certificates(record.org_id, include_retired=True)

    record, certificates = run_with_stores(action)
    if as_json:
        echo_json(org_view(record, certificates))
        return
    policy = record.policy
    lines = {
        "org_id": record.org_id,
        "name": clean(record.name),
        "enabled": str(record.enabled).lower(),
        "issuers": " ".join(clean(issuer) for issuer in sorted(record.allowed_issuers)),
        "subjects": "(any)" if record.subjects is None else " ".join(clean(s) for s in record.subjects),
        "scopes": " ".join(record.scopes) or "(none)",
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


def _set_enabled(org: str, enabled: bool) -> None:
    wanted = org_id(org)

    async def action(stores: Stores) -> Org:
        await _require_org(stores, wanted)
        return await stores.trust.update_org(wanted, enabled=enabled)

    record = run_with_stores(action)
    click.echo(f"org {record.org_id} {'enabled' if record.enabled else 'disabled'}")


@orgs.command("enable")
@_ORG_ARGUMENT
def orgs_enable(org: str) -> None:
    """Accept requests from an org again."""
    _set_enabled(org, True)


@orgs.command("disable")
@_ORG_ARGUMENT
def orgs_disable(org: str) -> None:
    """Refuse every request from an org, keeping its records.

    Canvas requests, JWTs and access tokens already issued to it are all refused.
    """
    _set_enabled(org, False)


@orgs.command("update")
@_ORG_ARGUMENT
@click.option("--name", default=None, help="New name.")
@click.option(
    "--issuer", "issuers", multiple=True, callback=_names, metavar="ISS", help="Replace the issuers; repeatable."
)
@click.option("--no-issuers", is_flag=True, help="Clear the issuers: accept the org id only.")
@click.option("--scope", "scopes", multiple=True, callback=_scopes, metavar="S", help="Replace the scopes; repeatable.")
@click.option("--no-scopes", is_flag=True, help="Clear the scopes.")
@click.option(
    "--subject", "subjects", multiple=True, callback=_names, metavar="S", help="Replace the subjects; repeatable."
)
@click.option("--any-subject", is_flag=True, help="Accept any subject.")
@click.option(
    "--max-assertion-lifetime",
    callback=_lifetime,
    metavar="SECONDS|default",
    help="Longest JWT lifetime (exp - iat) accepted; 'default': the service setting.",
)
@click.option(
    "--token-lifetime",
    callback=_lifetime,
    metavar="SECONDS|default",
    help="Access token lifetime; 'default': the service setting.",
)
@click.pass_context
def orgs_update(
    ctx: click.Context,
    org: str,
    name: str | None,
    issuers: tuple[str, ...],
    no_issuers: bool,
    scopes: tuple[str, ...],
    no_scopes: bool,
    subjects: tuple[str, ...],
    any_subject: bool,
    max_assertion_lifetime: int | None,
    token_lifetime: int | None,
) -> None:
    """Change some fields of an org; the others stay as they are."""
    for many, none, flag in ((issuers, no_issuers, "issuer"), (scopes, no_scopes, "scope")):
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
    lifetimes = {
        option: value
        for option, value in (("max_assertion_lifetime", max_assertion_lifetime), ("token_lifetime", token_lifetime))
        if ctx.get_parameter_source(option) is click.core.ParameterSource.COMMANDLINE
    }
    if not changes and not lifetimes:
        raise click.UsageError("nothing to update: give at least one option")
    wanted = org_id(org)

    async def action(stores: Stores) -> Org:
        current = await _require_org(stores, wanted)
        policy = dataclasses.replace(current.policy, **lifetimes) if lifetimes else UNSET
        return await stores.trust.update_org(wanted, policy=policy, **changes)

    record = run_with_stores(action)
    click.echo(f"org {record.org_id} updated")


@orgs.command("remove")
@_ORG_ARGUMENT
def orgs_remove(org: str) -> None:
    """Remove an org and its certificates: it is unknown to the service from now on."""
    wanted = org_id(org)

    async def action(stores: Stores) -> None:
        await _require_org(stores, wanted)
        await stores.trust.delete_org(wanted)

    run_with_stores(action)
    click.echo(f"org {wanted} removed")
