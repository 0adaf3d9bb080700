"""``forcegate admin``: the service's own credentials (the admin token, the access-token signing keys).

A signing-key change bumps the registry generation, so every running worker picks it up on its next
request: a rotation needs no restart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click

from forcegate.cli._stores import clean, echo_json, run_with_registry, store_option
from forcegate.cli.console_commands import create_user
from forcegate.registry import KeyRotation, RegistryService
from forcegate.registry.views import iso
from forcegate.stores.models import SigningKey

__all__ = ["admin"]


@click.group()
def admin() -> None:
    """The credential of the admin API and console, and the keys access tokens are signed with."""


@admin.command("rotate-token")
@store_option
def admin_rotate_token() -> None:
    """Make a new admin token and print it; the previous one stops working.

    Only a digest is stored: keep the printed token, or rotate again to recover from losing it.
    """

    async def action(registry: RegistryService) -> str:
        return await registry.rotate_admin_token()

    click.echo(run_with_registry(action))
    click.echo("forcegate: note: the previous admin token no longer works", err=True)


def _note(message: str) -> None:
    click.echo(f"forcegate: note: {message}", err=True)


def _signer(keys: Sequence[SigningKey]) -> str | None:
    """The kid that signs: the newest active key (``keys`` newest first, as the store lists them)."""
    return next((key.kid for key in keys if key.active), None)


@admin.command("rotate-signing-key")
@store_option
def admin_rotate_signing_key() -> None:
    """Make a new ES256 key the signer of access tokens, and print its kid.

    Every worker signs with it from its next request on; tokens signed with the earlier keys keep
    verifying until those keys are retired (`forcegate admin retire-signing-key KID`), which is safe
    once the longest token lifetime (plus the leeway) has passed: the time is printed.
    """

    async def action(registry: RegistryService) -> KeyRotation:
        return await registry.rotate_signing_key()

    rotation = run_with_registry(action)
    click.echo(rotation.kid)
    _note(f"{rotation.kid} signs new access tokens from every worker's next request")
    if rotation.earlier_tokens_dead_after is not None:
        _note(
            f"the earlier key(s) {', '.join(key.kid for key in rotation.earlier)} keep verifying until retired; "
            f"retire them after {iso(rotation.earlier_tokens_dead_after)} (the longest token lifetime, "
            f"{rotation.longest_token_lifetime} s, plus the {rotation.leeway} s leeway): "
            "forcegate admin retire-signing-key KID"
        )


# A kid is a base64url thumbprint and may start with "-": taken whole as the argument, not as options.
# Click passes an unknown "-…" cluster through only if none of its letters is a short option of the
# command: so no short options here, not even -h.
@admin.command("retire-signing-key", context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]})
@store_option
@click.argument("kid", metavar="KID")
def admin_retire_signing_key(kid: str) -> None:
    """Delete a signing key: access tokens it signed are refused from every worker's next request.

    The key that signs (the newest) cannot be retired: rotate first.
    """

    async def action(registry: RegistryService) -> KeyRotation:
        return await registry.retire_signing_key(kid)

    retirement = run_with_registry(action)
    live_until = retirement.earlier_tokens_dead_after
    if live_until is not None and live_until > time.time():
        click.echo(
            f"forcegate: warning: tokens signed with {kid} may be unexpired until {iso(live_until)}; they are "
            "refused from now on",
            err=True,
        )
    click.echo(f"retired signing key {kid}")


def _key_view(key: SigningKey, signer: str | None) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "algorithm": key.algorithm,
        "created_at": iso(key.created_at),
        "active": key.active,
        "signing": key.kid == signer,
    }


@admin.command("signing-keys")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def admin_signing_keys(as_json: bool) -> None:
    """List the access-token signing keys, newest first: kid, created, active or not, signing or verifying.

    The newest active key signs new tokens; every listed key verifies the tokens it signed.
    """

    async def action(registry: RegistryService) -> Sequence[SigningKey]:
        return await registry.signing_keys()

    keys = run_with_registry(action)
    signer = _signer(keys)
    if as_json:
        echo_json([_key_view(key, signer) for key in keys])
        return
    for key in keys:
        state = "signing" if key.kid == signer else "verifying"
        click.echo(f"{clean(key.kid)}  {iso(key.created_at)}  {'active' if key.active else 'inactive'}  {state}")


admin.add_command(create_user)
