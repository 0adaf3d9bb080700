"""``forcegate apps``: the Connected Apps whose Canvas signed requests the service accepts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from forcegate.cli._io import UnreadableInput
from forcegate.cli._stores import clean, echo_json, read_consumer_secret, run_with_registry, store_option, warn
from forcegate.registry import AddedCertificates, AppChanges, AppDetails, AppInput, RegistryService, SecretInput
from forcegate.registry.views import ANY_ORG_TRUST, app_details_view
from forcegate.salesforce.connected_app import ConnectedAppMetadata, api_name, default_app_name, load_connected_app
from forcegate.stores.models import CANVAS_NAME_PATTERN, App, AppSecret

__all__ = ["apps"]

F = TypeVar("F", bound=Callable[..., Any])

_SHOWN_ORGS = 20

_KEY_ARGUMENT = click.argument("consumer_key")
_CANVAS_NAME_HELP = (
    "The Canvas app's developer name (ns__Name in a managed package): requests to the shared /canvas "
    "endpoint that name it are checked against this app's secrets only."
)


def _secret_options(function: F) -> F:
    function = click.option("--secret-file", metavar="F", help="File holding the consumer secret.")(function)
    return click.option("--secret-env", metavar="VAR", help="Environment variable holding the consumer secret.")(
        function
    )


@click.group()
def apps() -> None:
    """Connected Apps whose Canvas requests are accepted.

    Consumer secrets are read from a variable or file, stored encrypted, and never printed.
    """


@apps.command("add")
@store_option
@_KEY_ARGUMENT
@click.option("--name", default="", help="A name for people (default: none).")
@_secret_options
@click.option(
    "--any-org",
    is_flag=True,
    help="Weaker: accept Canvas requests from any org, bound or not (the legacy model, where the consumer "
    "secret alone vouches). Default: only the enabled orgs bound to the app (orgs add|update --app).",
)
@click.option("--canvas-name", metavar="NAME", default=None, help=_CANVAS_NAME_HELP)
def apps_add(
    consumer_key: str,
    name: str,
    secret_env: str | None,
    secret_file: str | None,
    any_org: bool,
    canvas_name: str | None,
) -> None:
    """Register an app and its consumer secret; prints CONSUMER_KEY."""
    given = AppInput(
        consumer_key=consumer_key,
        name=name,
        secret=read_consumer_secret(secret_env, secret_file),
        any_org=any_org,
        canvas_name=canvas_name,
    )

    async def action(registry: RegistryService) -> AppDetails:
        return await registry.add_app(given)

    app = run_with_registry(action).app
    if app.any_org:
        warn(f"app {app.consumer_key} is {ANY_ORG_TRUST}")
    else:
        click.echo(
            f"forcegate: note: app {app.consumer_key} opens Canvas sessions only for the orgs bound to it: "
            f"forcegate orgs add ORG_ID --app {app.consumer_key} (or orgs update ORG_ID --app …)",
            err=True,
        )
    click.echo(app.consumer_key)


@apps.command("update")
@store_option
@_KEY_ARGUMENT
@click.option("--canvas-name", metavar="NAME", default=None, help=_CANVAS_NAME_HELP)
@click.option("--no-canvas-name", is_flag=True, help="Forget the Canvas developer name.")
def apps_update(consumer_key: str, canvas_name: str | None, no_canvas_name: bool) -> None:
    """Change an app (only what is given): its Canvas developer name."""
    if canvas_name is not None and no_canvas_name:
        raise click.UsageError("--canvas-name and --no-canvas-name exclude each other")
    if canvas_name is None and not no_canvas_name:
        raise click.UsageError("nothing to change: give --canvas-name NAME or --no-canvas-name")
    changes = AppChanges(canvas_name=None if no_canvas_name else canvas_name)

    async def action(registry: RegistryService) -> AppDetails:
        return await registry.update_app(consumer_key, changes)

    app = run_with_registry(action).app
    click.echo(f"app {app.consumer_key}: canvas_name {clean(app.canvas_name)}")


@apps.command("list")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def apps_list(as_json: bool) -> None:
    """List the apps.

    One line each: CONSUMER_KEY secrets=N any-org|orgs=N NAME (N: the orgs bound to it).
    """

    async def action(registry: RegistryService) -> list[dict[str, Any]]:
        return [app_details_view(details) for details in await registry.list_apps()]

    rows = sorted(run_with_registry(action), key=lambda row: str(row["consumer_key"]))
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        trust = "any-org" if row["any_org"] else f"orgs={row['bound_orgs']}"
        click.echo(f"{row['consumer_key']}  secrets={len(row['active_secrets'])}  {trust}  {clean(row['name'])}")


@apps.command("show")
@store_option
@_KEY_ARGUMENT
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def apps_show(consumer_key: str, as_json: bool) -> None:
    """Show an app: how many secrets are active, and since when (never the secrets)."""

    async def action(registry: RegistryService) -> tuple[dict[str, Any], Sequence[str]]:
        details = await registry.get_app(consumer_key)
        return app_details_view(details), await registry.app_orgs(consumer_key, limit=_SHOWN_ORGS + 1)

    row, orgs = run_with_registry(action)
    if as_json:
        echo_json(row)
        return
    click.echo(f"consumer_key: {row['consumer_key']}")
    click.echo(f"name: {clean(row['name'])}")
    click.echo(f"any_org: {str(row['any_org']).lower()}")
    click.echo(f"canvas_trust: {row['canvas_trust']}")
    click.echo(f"canvas_name: {clean(row['canvas_name'])}")
    shown = " ".join(orgs[:_SHOWN_ORGS]) + (" …" if len(orgs) > _SHOWN_ORGS else "")
    click.echo(f"bound_orgs: {row['bound_orgs']}{'  ' + shown if shown else ''}")
    click.echo(f"created_at: {row['created_at']}")
    click.echo(f"active_secrets: {len(row['active_secrets'])}")
    for secret in row["active_secrets"]:
        click.echo(f"  secret {secret['id']}  created {secret['created_at']}")


@apps.command("rotate-secret")
@store_option
@_KEY_ARGUMENT
@_secret_options
@click.option(
    "--keep-previous",
    type=int,
    default=1,
    show_default=True,
    help="How many older secrets stay active beside the new one (0 retires them all now).",
)
def apps_rotate_secret(consumer_key: str, secret_env: str | None, secret_file: str | None, keep_previous: int) -> None:
    """Make a new consumer secret current.

    The newest --keep-previous older secrets stay valid while Salesforce switches over; the rest stop working.
    """
    given = SecretInput(secret=read_consumer_secret(secret_env, secret_file), keep_previous=keep_previous)

    async def action(registry: RegistryService) -> tuple[AppSecret, AppDetails]:
        return await registry.rotate_secret(consumer_key, given)

    added, details = run_with_registry(action)
    click.echo(f"app {consumer_key}: secret {added.id} is current; {len(details.secrets)} active secret(s)")


@apps.command("remove")
@store_option
@_KEY_ARGUMENT
def apps_remove(consumer_key: str) -> None:
    """Remove an app and its secrets: its Canvas requests are refused from now on."""

    async def action(registry: RegistryService) -> None:
        await registry.remove_app(consumer_key)

    run_with_registry(action)
    click.echo(f"app {consumer_key} removed")


@apps.command("import-metadata")
@store_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_secret_options
@click.option("--name", default=None, help="A name for people (default: the metadata's label).")
@click.option(
    "--org",
    "org",
    metavar="ORG_ID",
    help="Bind the app to this registered org and trust the metadata's certificate for it.",
)
@click.option(
    "--namespace",
    metavar="NS",
    default=None,
    help="The package's namespace prefix: the Canvas developer name becomes NS__Name.",
)
def apps_import_metadata(
    file: Path,
    secret_env: str | None,
    secret_file: str | None,
    name: str | None,
    org: str | None,
    namespace: str | None,
) -> None:
    """Register the Connected App described by FILE (a .connectedApp-meta.xml).

    Reads oauthConfig/consumerKey, oauthConfig/certificate and canvasConfig. The consumer secret is
    never in metadata: give it with --secret-env or --secret-file. With --org, the app is bound to
    that org (which must be registered) and the certificate trusted for it. An app with Canvas
    settings is routed by its developer name (the file's name, behind --namespace). Prints what was
    imported.
    """
    secret = read_consumer_secret(secret_env, secret_file)
    try:
        metadata = load_connected_app(file)
    except OSError as exc:
        raise UnreadableInput(f"cannot read {file}: {exc.strerror}") from None
    app_name = name if name is not None else default_app_name(file, metadata)
    developer_name = None
    if metadata.canvas is not None:
        developer_name = api_name(file) if namespace is None else f"{namespace}__{api_name(file)}"
        if not CANVAS_NAME_PATTERN.fullmatch(developer_name):
            warn(f"{clean(developer_name)} is not a developer name: set it with forcegate apps update --canvas-name")
            developer_name = None
    given = AppInput(consumer_key=metadata.consumer_key, name=app_name, secret=secret, canvas_name=developer_name)

    async def action(registry: RegistryService) -> tuple[AppDetails, AddedCertificates | None]:
        return await registry.import_app(
            given, certificate=metadata.certificate, org_id=org, label=f"Connected App {app_name}"
        )

    details, added = run_with_registry(action)
    for message in added.warnings if added is not None else ():
        warn(message)
    _report_import(details.app, metadata, None if added is None else added.records[0].org_id)


def _report_import(app: App, metadata: ConnectedAppMetadata, wanted_org: str | None) -> None:
    click.echo(f"imported app {app.consumer_key} ({clean(app.name)})")
    canvas = metadata.canvas
    if canvas is None:
        click.echo("canvas: none (the app has no Canvas settings)")
    else:
        click.echo(f"canvas URL: {clean(canvas.canvas_url)}")
        click.echo(f"access method: {clean(canvas.access_method)}")
        click.echo(f"locations: {clean(', '.join(canvas.locations))}")
        click.echo(f"canvas name: {clean(app.canvas_name)}")
        if not canvas.signed_request:
            warn(
                f"canvasConfig/accessMethod is {clean(canvas.access_method)}, not Post: forcegate verifies Signed "
                "Request (POST) only. In Setup, edit the Connected App and set Canvas App Settings > Access Method "
                "to 'Signed Request (POST)'"
            )
    fingerprint = metadata.certificate_fingerprint
    if fingerprint is None:
        click.echo("certificate: none")
    elif wanted_org is not None:
        click.echo(f"certificate: {fingerprint} trusted for org {wanted_org}")
    else:
        click.echo(
            f"certificate: {fingerprint} not trusted for any org (re-run with --org ORG_ID, or use forcegate certs add)"
        )
    if metadata.has_consumer_secret:
        warn("the file holds oauthConfig/consumerSecret: it was ignored; keep such files out of version control")
