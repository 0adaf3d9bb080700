"""``forcegate apps``: the Connected Apps whose Canvas signed requests the service accepts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.cli._io import UnreadableInput
from forcegate.cli._stores import clean, echo_json, org_id, read_consumer_secret, run_with_stores
from forcegate.errors import AlreadyExists, ConnectedAppMetadataError, KeyMaterialError, NotFound
from forcegate.keys import check_key_strength
from forcegate.keys.model import certificate_public_key
from forcegate.salesforce.connected_app import ConnectedAppMetadata, default_app_name, load_connected_app
from forcegate.stores.bundle import Stores
from forcegate.stores.models import CONSUMER_KEY_PATTERN, App, AppSecret
from forcegate.stores.views import app_view

__all__ = ["apps"]

_MAX_KEEP_PREVIOUS = 10

F = TypeVar("F", bound=Callable[..., Any])


def _consumer_key(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not CONSUMER_KEY_PATTERN.fullmatch(value):
        raise click.BadParameter("a consumer key is 1 to 255 letters, digits, '.', '_', '-' or '~'")
    return value


_KEY_ARGUMENT = click.argument("consumer_key", callback=_consumer_key)


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


def _active(secrets: Sequence[AppSecret]) -> list[AppSecret]:
    return [secret for secret in secrets if secret.active]


async def _require_app(stores: Stores, consumer_key: str) -> App:
    app = await stores.trust.get_app(consumer_key)
    if app is None:
        raise NotFound(f"no app with consumer key {consumer_key}")
    return app


@apps.command("add")
@_KEY_ARGUMENT
@click.option("--name", default="", help="A name for people (default: none).")
@_secret_options
@click.option(
    "--any-org",
    is_flag=True,
    help="Weaker: also accept Canvas requests from unregistered orgs (the legacy model, where the consumer "
    "secret alone vouches). Default: registered, enabled orgs only.",
)
def apps_add(consumer_key: str, name: str, secret_env: str | None, secret_file: str | None, any_org: bool) -> None:
    """Register an app and its consumer secret; prints CONSUMER_KEY."""
    secret = read_consumer_secret(secret_env, secret_file)

    async def action(stores: Stores) -> App:
        return await stores.trust.add_app(consumer_key=consumer_key, name=name, secret=secret, any_org=any_org)

    app = run_with_stores(action)
    if app.any_org:
        click.echo(f"forcegate: warning: app {app.consumer_key} accepts Canvas requests from any org", err=True)
    click.echo(app.consumer_key)


@apps.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def apps_list(as_json: bool) -> None:
    """List the apps.

    One line each: CONSUMER_KEY secrets=N any-org|registered-orgs NAME.
    """

    async def action(stores: Stores) -> list[dict[str, Any]]:
        found = await stores.trust.list_apps()
        return [app_view(app, _active(await stores.trust.app_secrets(app.consumer_key))) for app in found]

    rows = sorted(run_with_stores(action), key=lambda row: str(row["consumer_key"]))
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        trust = "any-org" if row["any_org"] else "registered-orgs"
        click.echo(f"{row['consumer_key']}  secrets={len(row['active_secrets'])}  {trust}  {clean(row['name'])}")


@apps.command("show")
@_KEY_ARGUMENT
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def apps_show(consumer_key: str, as_json: bool) -> None:
    """Show an app: how many secrets are active, and since when (never the secrets)."""

    async def action(stores: Stores) -> dict[str, Any]:
        app = await _require_app(stores, consumer_key)
        return app_view(app, _active(await stores.trust.app_secrets(consumer_key)))

    row = run_with_stores(action)
    if as_json:
        echo_json(row)
        return
    click.echo(f"consumer_key: {row['consumer_key']}")
    click.echo(f"name: {clean(row['name'])}")
    click.echo(f"any_org: {str(row['any_org']).lower()}")
    click.echo(f"created_at: {row['created_at']}")
    click.echo(f"active_secrets: {len(row['active_secrets'])}")
    for secret in row["active_secrets"]:
        click.echo(f"  secret {secret['id']}  created {secret['created_at']}")


@apps.command("rotate-secret")
@_KEY_ARGUMENT
@_secret_options
@click.option(
    "--keep-previous",
    type=click.IntRange(0, _MAX_KEEP_PREVIOUS),
    default=1,
    show_default=True,
    help="How many older secrets stay active beside the new one (0 retires them all now).",
)
def apps_rotate_secret(consumer_key: str, secret_env: str | None, secret_file: str | None, keep_previous: int) -> None:
    """Make a new consumer secret current.

    The newest --keep-previous older secrets stay valid while Salesforce switches over; the rest stop working.
    """
    secret = read_consumer_secret(secret_env, secret_file)

    async def action(stores: Stores) -> tuple[AppSecret, int]:
        await _require_app(stores, consumer_key)
        added = await stores.trust.add_app_secret(consumer_key, secret, keep_previous=keep_previous)
        return added, len(_active(await stores.trust.app_secrets(consumer_key)))

    added, active = run_with_stores(action)
    click.echo(f"app {consumer_key}: secret {added.id} is current; {active} active secret(s)")


@apps.command("remove")
@_KEY_ARGUMENT
def apps_remove(consumer_key: str) -> None:
    """Remove an app and its secrets: its Canvas requests are refused from now on."""

    async def action(stores: Stores) -> None:
        await _require_app(stores, consumer_key)
        await stores.trust.delete_app(consumer_key)

    run_with_stores(action)
    click.echo(f"app {consumer_key} removed")


def _check_importable(metadata: ConnectedAppMetadata) -> None:
    if not CONSUMER_KEY_PATTERN.fullmatch(metadata.consumer_key):
        raise ConnectedAppMetadataError(
            "oauthConfig/consumerKey is not a consumer key (1 to 255 letters, digits, '.', '_', '-', '~')"
        )
    certificate = metadata.certificate
    if certificate is None:
        return
    public_key = certificate_public_key(certificate)
    if public_key is None:
        raise KeyMaterialError("oauthConfig/certificate: unsupported key type (RSA, EC or Ed25519 expected)")
    check_key_strength(public_key)


@apps.command("import-metadata")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_secret_options
@click.option("--name", default=None, help="A name for people (default: the metadata's label).")
@click.option("--org", "org", metavar="ORG_ID", help="Trust the metadata's certificate for this registered org.")
def apps_import_metadata(
    file: Path, secret_env: str | None, secret_file: str | None, name: str | None, org: str | None
) -> None:
    """Register the Connected App described by FILE (a .connectedApp-meta.xml).

    Reads oauthConfig/consumerKey, oauthConfig/certificate and canvasConfig. The consumer secret is
    never in metadata: give it with --secret-env or --secret-file. With --org, the certificate is
    trusted for that org (which must be registered). Prints what was imported.
    """
    secret = read_consumer_secret(secret_env, secret_file)
    wanted_org = org_id(org) if org is not None else None
    try:
        metadata = load_connected_app(file)
    except OSError as exc:
        raise UnreadableInput(f"cannot read {file}: {exc.strerror}") from None
    _check_importable(metadata)
    certificate = metadata.certificate
    if certificate is not None and wanted_org is not None and certificate.not_valid_after_utc < datetime.now(UTC):
        raise KeyMaterialError(
            f"oauthConfig/certificate expired on {certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}: "
            "upload a new one to the Connected App"
        )
    app_name = name if name is not None else default_app_name(file, metadata)

    async def action(stores: Stores) -> App:
        # Every check before the first write, so a refused import leaves the registry as it was.
        if wanted_org is not None:
            if await stores.trust.get_org(wanted_org) is None:
                raise NotFound(f"no org {wanted_org} in the registry (add it with: forcegate orgs add {wanted_org})")
            if certificate is not None:
                der = certificate.public_bytes(Encoding.DER)
                if any(record.der == der for record in await stores.trust.list_certificates(wanted_org)):
                    raise AlreadyExists(
                        f"certificate {metadata.certificate_fingerprint} is already registered for {wanted_org}"
                    )
        if await stores.trust.get_app(metadata.consumer_key) is not None:
            raise AlreadyExists(
                f"app {metadata.consumer_key} is already registered (rotate its secret with: "
                "forcegate apps rotate-secret)"
            )
        app = await stores.trust.add_app(consumer_key=metadata.consumer_key, name=app_name, secret=secret)
        if wanted_org is not None and certificate is not None:
            await stores.trust.add_certificate(wanted_org, certificate, label=f"Connected App {app_name}")
        return app

    app = run_with_stores(action)
    _report_import(app, metadata, wanted_org)


def _warn(message: str) -> None:
    click.echo(f"forcegate: warning: {message}", err=True)


def _report_import(app: App, metadata: ConnectedAppMetadata, wanted_org: str | None) -> None:
    click.echo(f"imported app {app.consumer_key} ({clean(app.name)})")
    canvas = metadata.canvas
    if canvas is None:
        click.echo("canvas: none (the app has no Canvas settings)")
    else:
        click.echo(f"canvas URL: {clean(canvas.canvas_url)}")
        click.echo(f"access method: {clean(canvas.access_method)}")
        click.echo(f"locations: {clean(', '.join(canvas.locations))}")
        if not canvas.signed_request:
            _warn(
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
        _warn("the file holds oauthConfig/consumerSecret: it was ignored; keep such files out of version control")
