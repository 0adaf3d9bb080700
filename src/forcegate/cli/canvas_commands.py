"""``forcegate canvas``: sign and verify Canvas signed requests."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import click

from forcegate.cli._io import UnreadableInput, read_input, read_secret_env, read_secret_file
from forcegate.core.canvas import CanvasVerifier

__all__ = ["canvas"]


@click.group()
def canvas() -> None:
    """Canvas signed requests (HMAC-SHA256 with the Connected App consumer secret)."""


def _secrets(secret_env: tuple[str, ...], secret_file: tuple[str, ...]) -> list[bytes]:
    found = [read_secret_env(v) for v in secret_env] + [read_secret_file(f) for f in secret_file]
    if not found:
        raise click.UsageError("give the consumer secret with --secret-env VAR or --secret-file F")
    return found


F = TypeVar("F", bound=Callable[..., Any])


def _secret_options(*, multiple: bool) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        many = " Repeat for rotation: secrets are tried in order, --secret-env ones first." if multiple else ""
        function = click.option(
            "--secret-file",
            "secret_file",
            multiple=multiple,
            metavar="F",
            help="File holding the consumer secret." + many,
        )(function)
        return click.option(
            "--secret-env",
            "secret_env",
            multiple=multiple,
            metavar="VAR",
            help="Environment variable holding the consumer secret.",
        )(function)

    return decorate


@canvas.command("sign")
@_secret_options(multiple=False)
@click.argument("source", required=False, metavar="[FILE|-]")
def canvas_sign(secret_env: str | None, secret_file: str | None, source: str | None) -> None:
    """Sign a CanvasRequest envelope (JSON from FILE or stdin) the way Salesforce does."""
    # A development tool, imported when used: the CLI's runtime commands never load forcegate.devtools.
    from forcegate.devtools.canvas_signer import sign_envelope

    if (secret_env is None) == (secret_file is None):
        raise click.UsageError("give exactly one of --secret-env VAR or --secret-file F")
    secret = read_secret_env(secret_env) if secret_env else read_secret_file(str(secret_file))
    try:
        envelope = json.loads(read_input(source))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableInput(f"the envelope is not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise UnreadableInput("the envelope must be a JSON object")
    click.echo(sign_envelope(envelope, secret))


@canvas.command("verify")
@_secret_options(multiple=True)
@click.argument("source", required=False, metavar="[FILE|-]")
def canvas_verify(secret_env: tuple[str, ...], secret_file: tuple[str, ...], source: str | None) -> None:
    """Verify a signed_request (from FILE or stdin) and print its envelope as JSON.

    The input may be the bare ``signed_request`` value or the urlencoded form body Salesforce POSTs.
    """
    verifier = CanvasVerifier(_secrets(secret_env, secret_file))
    raw = read_input(source).strip()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise UnreadableInput("a signed_request is ASCII text") from None
    if "signed_request=" in text:
        values = urllib.parse.parse_qs(text).get("signed_request")
        if not values:
            raise UnreadableInput("the form body has no signed_request field")
        text = values[0]
    request = verifier.verify(text)
    click.echo(json.dumps(request.raw.to_dict(), indent=2))
