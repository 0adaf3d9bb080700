"""``forcegate keys``: make and inspect certificates and keystores."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click

from forcegate.cli._io import load_keystore, read_secret_env
from forcegate.errors import ConfigurationError
from forcegate.keys import describe_entry, generate_certificate, write_bundle

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """Certificates and keystores as Salesforce's Certificate and Key Management uses them."""


def _write_password_file(path: Path, password: bytes) -> None:
    # Created with 0600 from the first byte: never readable by others, not even briefly.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"refusing to overwrite {path}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(password + b"\n")


@keys.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write the files into (created if missing).",
)
@click.option(
    "--key-size",
    type=click.Choice(["2048", "3072", "4096"]),
    default="2048",
    show_default=True,
    help="RSA key size (the sizes Salesforce offers).",
)
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True, help="Validity in days.")
@click.option("--cn", help="Certificate common name (default: NAME).")
@click.option(
    "--password-env",
    metavar="VAR",
    help="Environment variable holding the keystore password. Without it a random password is "
    "generated and written to DIR/NAME.keystore-password (mode 0600).",
)
def keys_new(name: str, directory: Path, key_size: str, days: int, cn: str | None, password_env: str | None) -> None:
    """Create an RSA key and self-signed certificate NAME, like Certificate and Key Management.

    Writes NAME.crt (PEM certificate), NAME.key.pem (PKCS#8 key, mode 0600), NAME.jks (importable
    into Salesforce: alias NAME, key password = store password) and NAME.p12, then prints one JSON
    object describing them.
    """
    password = read_secret_env(password_env) if password_env else None
    directory.mkdir(parents=True, exist_ok=True)
    entry = generate_certificate(cn=cn or name, key_size=int(key_size), days=days, alias=name)
    generated_password = password is None
    if password is None:
        password = secrets.token_urlsafe(24).encode("ascii")
    password_file = directory / f"{name}.keystore-password"
    if generated_password and password_file.exists():
        raise ConfigurationError(f"refusing to overwrite {password_file}")
    paths = write_bundle(entry, directory=directory, name=name, password=password)
    if generated_password:
        _write_password_file(password_file, password)
    facts = describe_entry(entry)
    result = {
        "name": name,
        "certificate": str(paths.certificate),
        "private_key": str(paths.private_key),
        "keystore": str(paths.keystore),
        "pkcs12": str(paths.pkcs12),
        "keystore_password_file": str(password_file) if generated_password else None,
        "alias": name.lower(),  # Java (and so Salesforce) lower-cases JKS aliases
        "subject": facts.get("subject"),
        "key_size": int(key_size),
        "sha256_fingerprint": facts.get("sha256_fingerprint"),
        "x5t#S256": facts.get("x5t#S256"),
        "not_before": facts.get("not_before"),
        "not_after": facts.get("not_after"),
    }
    click.echo(json.dumps(result, indent=2))


@keys.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--password-env", metavar="VAR", help="Environment variable holding the keystore/key password.")
def keys_inspect(file: Path, password_env: str | None) -> None:
    """Describe every entry of FILE (PEM, DER, JKS, PKCS#12, JWK or JWKS) as JSON; never a secret."""
    keystore = load_keystore(file, password_env)
    entries = [describe_entry(entry) for entry in keystore.entries]
    click.echo(json.dumps({"file": str(file), "entries": entries}, indent=2))
