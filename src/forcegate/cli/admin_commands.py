"""``forcegate admin``: the service's own credentials (the admin token, the access-token signing keys).

A signing-key change bumps the registry generation, so every running worker picks it up on its next
request: a rotation needs no restart.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

import click
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from forcegate.cli._stores import clean, echo_json, run_with_stores
from forcegate.core.access_token import new_signing_key
from forcegate.settings import Settings, load_settings
from forcegate.stores.bundle import Stores
from forcegate.stores.models import SigningKey
from forcegate.stores.views import iso

__all__ = ["admin"]

_ORG_PAGE = 1000


@click.group()
def admin() -> None:
    """The credential of the admin API and console, and the keys access tokens are signed with."""


@admin.command("rotate-token")
def admin_rotate_token() -> None:
    """Make a new admin token and print it; the previous one stops working.

    Only a digest is stored: keep the printed token, or rotate again to recover from losing it.
    """
    token = secrets.token_urlsafe(32)

    async def action(stores: Stores) -> None:
        await stores.keys.set_admin_token(token)

    run_with_stores(action)
    click.echo(token)
    click.echo("forcegate: note: the previous admin token no longer works", err=True)


def _note(message: str) -> None:
    click.echo(f"forcegate: note: {message}", err=True)


def _signer(keys: Sequence[SigningKey]) -> str | None:
    """The kid that signs: the newest active key (``keys`` newest first, as the store lists them)."""
    return next((key.kid for key in keys if key.active), None)


async def _longest_token_lifetime(stores: Stores, settings: Settings) -> int:
    """The longest lifetime an access token may be issued with: the service's, or an org policy's."""
    longest = settings.token_lifetime
    after: str | None = None
    while True:
        page = await stores.trust.list_orgs(limit=_ORG_PAGE, after=after)
        longest = max([longest, *(org.policy.token_lifetime or 0 for org in page)])
        if len(page) < _ORG_PAGE:
            return longest
        after = page[-1].org_id


@admin.command("rotate-signing-key")
def admin_rotate_signing_key() -> None:
    """Make a new ES256 key the signer of access tokens, and print its kid.

    Every worker signs with it from its next request on; tokens signed with the earlier keys keep
    verifying until those keys are retired (`forcegate admin retire-signing-key KID`), which is safe
    once the longest token lifetime (plus the leeway) has passed: the time is printed.
    """
    settings = load_settings()
    private_key, kid = new_signing_key()
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    async def action(stores: Stores) -> tuple[Sequence[SigningKey], int]:
        earlier = await stores.keys.signing_keys()
        # The newest key signs. A host whose clock lags the one that made the current signer must
        # still make the newest key: never older than the keys already there.
        created = max([time.time(), *(key.created_at + 0.001 for key in earlier)])
        await stores.keys.add_signing_key(SigningKey(kid=kid, algorithm="ES256", private_pem=pem, created_at=created))
        return earlier, await _longest_token_lifetime(stores, settings)

    earlier, longest = run_with_stores(action)
    click.echo(kid)
    _note(f"{kid} signs new access tokens from every worker's next request")
    if earlier:
        safe = time.time() + longest + settings.leeway
        _note(
            f"the earlier key(s) {', '.join(key.kid for key in earlier)} keep verifying until retired; retire them "
            f"after {iso(safe)} (the longest token lifetime, {longest} s, plus the {settings.leeway} s leeway): "
            "forcegate admin retire-signing-key KID"
        )


# A kid is a base64url thumbprint and may start with "-": taken whole as the argument, not as options.
# Click passes an unknown "-…" cluster through only if none of its letters is a short option of the
# command: so no short options here, not even -h.
@admin.command("retire-signing-key", context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]})
@click.argument("kid", metavar="KID")
def admin_retire_signing_key(kid: str) -> None:
    """Delete a signing key: access tokens it signed are refused from every worker's next request.

    The key that signs (the newest) cannot be retired: rotate first.
    """
    settings = load_settings()

    async def action(stores: Stores) -> tuple[Sequence[SigningKey], int]:
        keys = await stores.keys.signing_keys()
        await stores.keys.retire_signing_key(kid)
        return keys, await _longest_token_lifetime(stores, settings)

    keys, longest = run_with_stores(action)
    kids = [key.kid for key in keys]
    position = kids.index(kid)
    if position > 0:
        # Tokens signed with this key were issued until its successor appeared.
        live_until = keys[position - 1].created_at + longest + settings.leeway
        if live_until > time.time():
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def admin_signing_keys(as_json: bool) -> None:
    """List the access-token signing keys, newest first: kid, created, active or not, signing or verifying.

    The newest active key signs new tokens; every listed key verifies the tokens it signed.
    """

    async def action(stores: Stores) -> Sequence[SigningKey]:
        return await stores.keys.signing_keys()

    keys = run_with_stores(action)
    signer = _signer(keys)
    if as_json:
        echo_json([_key_view(key, signer) for key in keys])
        return
    for key in keys:
        state = "signing" if key.kid == signer else "verifying"
        click.echo(f"{clean(key.kid)}  {iso(key.created_at)}  {'active' if key.active else 'inactive'}  {state}")
