"""``forcegate jwt``: mint a JWT exactly as Apex would, and verify one with the strict policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from forcegate.cli._io import UnreadableInput, load_keystore, read_input
from forcegate.core.algorithms import SUPPORTED_ALGORITHMS
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.errors import ConfigurationError
from forcegate.keys import Keystore, self_signed_certificate, trusted_keys

if TYPE_CHECKING:
    from forcegate.devtools.apex_jwt import CertificateAndKeyManagement

__all__ = ["jwt"]


@click.group()
def jwt() -> None:
    """JWTs as Apex's Auth.JWT / Auth.JWS make them, and their verification."""


def _claim(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise click.UsageError(f"--claim takes NAME=JSON, got {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        raise click.UsageError(f"--claim {name}: the value is not JSON (quote strings: {name}='\"text\"')") from None


def _signing_org(keystore: Keystore, alias: str | None) -> tuple[CertificateAndKeyManagement, str]:
    from forcegate.devtools.apex_jwt import CertificateAndKeyManagement

    entry = keystore.signing_entry(alias)
    if not isinstance(entry.private_key, RSAPrivateKey):
        raise ConfigurationError("Auth.JWS signs RS256 only: the key must be RSA")
    # Auth.JWS signs with a certificate's key; given a bare key, wrap it in a throwaway self-signed
    # certificate so the org emulator can hold it. The signature depends on the key alone.
    certificate = entry.certificate or self_signed_certificate(entry.private_key, cn=entry.alias[:64], days=1)
    org = CertificateAndKeyManagement()
    org.add(entry.alias, private_key=entry.private_key, certificate=certificate)
    return org, entry.alias


@jwt.command("mint")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key: JKS, PKCS#12 or PEM holding an RSA private key.",
)
@click.option("--alias", help="Keystore entry to sign with (default: the only private key).")
@click.option("--password-env", metavar="VAR", help="Environment variable holding the keystore/key password.")
@click.option("--iss", required=True, help="Issuer (Auth.JWT.setIss): the org id or the consumer key.")
@click.option("--sub", required=True, help="Subject (Auth.JWT.setSub): usually the username.")
@click.option("--aud", required=True, help="Audience (Auth.JWT.setAud): the service's token endpoint URL.")
@click.option(
    "--validity",
    type=click.IntRange(1, 86400),
    default=300,
    show_default=True,
    help="Seconds until exp (Auth.JWT.setValidityLength).",
)
@click.option(
    "--nbf-skew",
    type=click.IntRange(0, 3600),
    default=0,
    show_default=True,
    help="Seconds nbf lies in the past (Auth.JWT.setNbfClockSkew).",
)
@click.option(
    "--claim",
    "claims",
    multiple=True,
    metavar="NAME=JSON",
    help="Additional claim (Auth.JWT.setAdditionalClaims); standard claim names are refused.",
)
def jwt_mint(
    key_file: Path,
    alias: str | None,
    password_env: str | None,
    iss: str,
    sub: str,
    aud: str,
    validity: int,
    nbf_skew: int,
    claims: tuple[str, ...],
) -> None:
    """Print a compact JWS exactly as Apex's Auth.JWS would make it (header {"alg":"RS256"})."""
    # The Apex emulation is a development tool, imported when used: `forcegate jwt verify` and the
    # rest of the CLI never load forcegate.devtools.
    from forcegate.devtools.apex_jwt import AuthJWS, AuthJWT

    org, name = _signing_org(load_keystore(key_file, password_env), alias)
    token = AuthJWT(
        iss=iss,
        sub=sub,
        aud=aud,
        validity_length=validity,
        nbf_clock_skew=nbf_skew,
        additional_claims=dict(_claim(c) for c in claims) or None,
    )
    click.echo(AuthJWS(token, name, certificates=org).compact_serialization())


@jwt.command("verify")
@click.option(
    "--key",
    "key_files",
    required=True,
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Trusted key: certificate, public key, JWK or JWKS. Repeat for rotation.",
)
@click.option("--iss", "issuers", multiple=True, help="Accepted issuer (repeatable; default: any).")
@click.option(
    "--aud",
    "audiences",
    multiple=True,
    help="Accepted audience, exact match (repeatable; at least one is required).",
)
@click.option(
    "--alg",
    "algorithms",
    multiple=True,
    type=click.Choice(sorted(SUPPORTED_ALGORITHMS)),
    help="Allowed algorithm (repeatable; default RS256).",
)
@click.option("--leeway", type=click.IntRange(0, 300), default=60, show_default=True, help="Clock skew in seconds.")
@click.option(
    "--max-lifetime",
    type=click.IntRange(1, 86400),
    default=300,
    show_default=True,
    help="Longest accepted lifetime in seconds.",
)
@click.option("--password-env", metavar="VAR", help="Environment variable holding a keystore password.")
@click.argument("source", required=False, metavar="[FILE|-]")
def jwt_verify(
    key_files: tuple[Path, ...],
    issuers: tuple[str, ...],
    audiences: tuple[str, ...],
    algorithms: tuple[str, ...],
    leeway: int,
    max_lifetime: int,
    password_env: str | None,
    source: str | None,
) -> None:
    """Verify a JWT (from FILE or stdin) with the strict policy and print its claims as JSON."""
    if not audiences:
        raise click.UsageError("give at least one --aud: the audience must be checked")
    keys = [key for path in key_files for key in trusted_keys(load_keystore(path, password_env))]
    policy = JWTPolicy(
        audiences=frozenset(audiences),
        issuers=frozenset(issuers) if issuers else None,
        algorithms=frozenset(algorithms or ("RS256",)),
        leeway=leeway,
        max_lifetime=max_lifetime,
    )
    try:
        token = read_input(source).strip().decode("ascii")
    except UnicodeDecodeError:
        raise UnreadableInput("a JWT is ASCII text") from None
    result = JWTVerifier(policy=policy, keys=keys).verify(token)
    click.echo(json.dumps(dict(result.claims), indent=2))
