"""``forcegate certs``: the certificates whose keys an org signs its JWTs with.

Several active certificates per org is the normal state during a rotation: add the new one, let the
org switch, then retire the old one.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from forcegate.cli._io import read_secret_env
from forcegate.cli._stores import clean, echo_json, org_id, run_with_stores
from forcegate.errors import AlreadyExists, KeyMaterialError, NotFound
from forcegate.keys import KeyEntry, check_key_strength, load_keystore_file
from forcegate.keys.model import certificate_public_key
from forcegate.stores.bundle import Stores
from forcegate.stores.models import CertificateRecord, CertificateState
from forcegate.stores.views import certificate_view, iso

__all__ = ["certificate_line", "certs"]

EXPIRY_WARNING = timedelta(days=30)
_FINGERPRINT = re.compile(r"[0-9a-f]{8,64}")


def certificate_line(record: CertificateRecord) -> str:
    """``FINGERPRINT  STATE  NOT_AFTER  LABEL``; the state reads ``active/expired`` once it has expired."""
    state = record.state + ("/expired" if record.not_after < time.time() else "")
    return f"{record.sha256_fingerprint}  {state}  {iso(record.not_after)}  {clean(record.label)}"


def _warn(message: str) -> None:
    click.echo(f"forcegate: warning: {message}", err=True)


def _hex_fingerprint(certificate: x509.Certificate) -> str:
    """The registry's form: lowercase hex SHA-256 of the DER, no colons."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def _fingerprint(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    # Accept what people copy: keytool's "AB:CD:…", openssl's "sha256 Fingerprint=AB:CD:…", plain hex.
    text = value.rpartition("=")[2].replace(":", "").strip().lower()
    if not _FINGERPRINT.fullmatch(text):
        raise click.BadParameter("a SHA-256 fingerprint, or at least its first 8 hex digits ('AB:CD:…' or hex)")
    return text


@click.group()
def certs() -> None:
    """Certificates an org's JWTs are verified with.

    FINGERPRINT is the SHA-256 of the certificate: hex, with or without colons, or a unique
    prefix of at least 8 hex digits.
    """


def _certificates(entries: Sequence[KeyEntry], file: Path, alias: str | None) -> list[tuple[str, x509.Certificate]]:
    """(default label, certificate) of each entry holding one, each certificate once; chains are not added."""
    found: dict[bytes, tuple[str, x509.Certificate]] = {}
    for entry in entries:
        if entry.certificate is not None:
            found.setdefault(entry.certificate.public_bytes(Encoding.DER), (entry.alias, entry.certificate))
    if not found:
        where = f"entry {alias!r} of {file}" if alias else str(file)
        raise KeyMaterialError(
            f"{where} holds no certificate: Salesforce and forcegate trust certificates, not bare keys "
            "(download the certificate from Setup > Certificate and Key Management)"
        )
    return list(found.values())


@certs.command("add")
@click.argument("org", metavar="ORG_ID")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--password-env", metavar="VAR", help="Environment variable holding the keystore password.")
@click.option("--label", help="Label for people (default: the keystore alias or the certificate's CN).")
@click.option("--alias", help="Add only this keystore entry (default: every certificate in FILE).")
@click.option("--allow-expired", is_flag=True, help="Register an expired certificate anyway (it verifies nothing).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the added certificates.")
def certs_add(
    org: str,
    file: Path,
    password_env: str | None,
    label: str | None,
    alias: str | None,
    allow_expired: bool,
    as_json: bool,
) -> None:
    """Trust the certificate(s) in FILE for an org.

    FILE is PEM, DER, JKS or PKCS#12. Each certificate in it is added (not the CA certificates of a
    key's chain); --alias picks one entry. Expired and weak-key certificates are refused; one that
    expires within 30 days is added with a warning. Prints FINGERPRINT STATE NOT_AFTER LABEL each.
    """
    wanted = org_id(org)
    password = read_secret_env(password_env) if password_env else None
    keystore = load_keystore_file(file, password=password)
    entries = [keystore.get(alias)] if alias else list(keystore.entries)
    found = _certificates(entries, file, alias)
    now = datetime.now(UTC)
    for _, certificate in found:
        fingerprint = _hex_fingerprint(certificate)
        public_key = certificate_public_key(certificate)
        if public_key is None:
            raise KeyMaterialError(f"certificate {fingerprint}: unsupported key type (RSA, EC or Ed25519 expected)")
        check_key_strength(public_key)
        if certificate.not_valid_after_utc < now and not allow_expired:
            raise KeyMaterialError(
                f"certificate {fingerprint} expired on {certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ} "
                "(--allow-expired registers it anyway)"
            )

    async def action(stores: Stores) -> list[CertificateRecord]:
        if await stores.trust.get_org(wanted) is None:
            raise NotFound(f"no org {wanted} in the registry (add it with: forcegate orgs add {wanted})")
        # Refuse before writing anything, so a multi-certificate file is added whole or not at all.
        known = {record.der for record in await stores.trust.list_certificates(wanted, include_retired=True)}
        for _, certificate in found:
            if certificate.public_bytes(Encoding.DER) in known:
                raise AlreadyExists(f"certificate {_hex_fingerprint(certificate)} is already registered for {wanted}")
        return [
            await stores.trust.add_certificate(wanted, certificate, label=label if label is not None else default)
            for default, certificate in found
        ]

    added = run_with_stores(action)
    for record in added:
        remaining = datetime.fromtimestamp(record.not_after, UTC) - now
        if remaining < timedelta(0):
            _warn(f"certificate {record.sha256_fingerprint} has expired: it verifies nothing")
        elif remaining < EXPIRY_WARNING:
            _warn(f"certificate {record.sha256_fingerprint} expires in {remaining.days} day(s): add its successor")
        if record.not_before > now.timestamp():
            _warn(f"certificate {record.sha256_fingerprint} is not valid before {iso(record.not_before)}")
    if as_json:
        echo_json([certificate_view(record) for record in added])
        return
    for record in added:
        click.echo(certificate_line(record))


@certs.command("list")
@click.argument("org", metavar="ORG_ID")
@click.option("--active", "active_only", is_flag=True, help="Only active certificates.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def certs_list(org: str, active_only: bool, as_json: bool) -> None:
    """List an org's certificates.

    One line each: FINGERPRINT STATE NOT_AFTER LABEL.
    """
    wanted = org_id(org)

    async def action(stores: Stores) -> Sequence[CertificateRecord]:
        if await stores.trust.get_org(wanted) is None:
            raise NotFound(f"no org {wanted} in the registry")
        return await stores.trust.list_certificates(wanted, include_retired=not active_only)

    records = run_with_stores(action)
    if as_json:
        echo_json([certificate_view(record) for record in records])
        return
    for record in records:
        click.echo(certificate_line(record))


def _set_state(org: str, fingerprint: str, state: CertificateState) -> None:
    wanted = org_id(org)

    async def action(stores: Stores) -> tuple[CertificateRecord, int]:
        if await stores.trust.get_org(wanted) is None:
            raise NotFound(f"no org {wanted} in the registry")
        record = await stores.trust.set_certificate_state(wanted, fingerprint, state)
        active = await stores.trust.list_certificates(wanted, include_retired=False)
        return record, len(active)

    record, active = run_with_stores(action)
    if state == "active" and record.not_after < time.time():
        _warn(f"certificate {record.sha256_fingerprint} has expired: it verifies nothing")
    if not active:
        _warn(f"org {wanted} has no active certificate left: its JWTs are refused")
    click.echo(certificate_line(record))


@certs.command("retire")
@click.argument("org", metavar="ORG_ID")
@click.argument("fingerprint", callback=_fingerprint)
def certs_retire(org: str, fingerprint: str) -> None:
    """Stop trusting a certificate; it stays on record (activate undoes it)."""
    _set_state(org, fingerprint, "retired")


@certs.command("activate")
@click.argument("org", metavar="ORG_ID")
@click.argument("fingerprint", callback=_fingerprint)
def certs_activate(org: str, fingerprint: str) -> None:
    """Trust a retired certificate again."""
    _set_state(org, fingerprint, "active")
