"""``forcegate certs``: the certificates whose keys an org signs its JWTs with.

Several active certificates per org is the normal state during a rotation: add the new one, let the
org switch, then retire the old one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

import click

from forcegate.cli._io import load_keystore
from forcegate.cli._stores import clean, echo_json, run_with_registry, store_option, warn
from forcegate.registry import AddedCertificates, CertificateStateInput, RegistryService, certificates_in
from forcegate.registry.views import certificate_view, iso
from forcegate.stores.models import CertificateRecord

__all__ = ["certificate_line", "certs", "days_left"]

_FINGERPRINT = re.compile(r"[0-9a-f]{8,64}")


def certificate_line(record: CertificateRecord) -> str:
    """``FINGERPRINT  STATE  NOT_AFTER  LABEL``: the state reads ``active/expired`` once it has expired,
    ``…/not-yet-valid`` before it starts, ``…/shared`` when other orgs trust it too, and
    ``…/retiring-<time>`` while a rotation's overlap runs."""
    now = time.time()
    state: str = record.state
    state += "/expired" if record.not_after < now else "/not-yet-valid" if record.not_before > now else ""
    state += "/shared" if record.shared else ""
    state += f"/retiring-{iso(record.retire_at)}" if record.retire_at is not None and record.state == "active" else ""
    return f"{record.sha256_fingerprint}  {state}  {iso(record.not_after)}  {clean(record.label)}"


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


@certs.command("add")
@store_option
@click.argument("org", metavar="ORG_ID")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--password-env", metavar="VAR", help="Environment variable holding the keystore password.")
@click.option("--label", help="Label for people (default: the keystore alias or the certificate's CN).")
@click.option("--alias", help="Add only this keystore entry (default: every certificate in FILE).")
@click.option(
    "--shared",
    is_flag=True,
    help="Weaker: trust it although another org already does (any org holding the key can then sign as the "
    "others). Default: one org per certificate.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the added certificates.")
def certs_add(
    org: str,
    file: Path,
    password_env: str | None,
    label: str | None,
    alias: str | None,
    shared: bool,
    as_json: bool,
) -> None:
    """Trust the certificate(s) in FILE for an org.

    FILE is PEM, DER, JKS or PKCS#12. Each certificate in it is added (not the CA certificates of a
    key's chain), all or none; --alias picks one entry. Expired and weak-key certificates are
    refused; one that expires within 30 days, or is not valid yet, is added with a warning. Prints
    FINGERPRINT STATE NOT_AFTER LABEL each.
    """
    keystore = load_keystore(file, password_env)
    found = certificates_in(keystore, alias=alias)
    labelled = [(label if label is not None else default, certificate) for default, certificate in found]

    async def action(registry: RegistryService) -> AddedCertificates:
        return await registry.add_certificates(org, labelled, shared=shared)

    added = run_with_registry(action)
    for message in added.warnings:
        warn(message)
    if any(record.shared for record in added.records):
        warn("shared certificate: every org trusting it can sign as the others")
    if as_json:
        echo_json([certificate_view(record) for record in added.records])
        return
    for record in added.records:
        click.echo(certificate_line(record))


@certs.command("list")
@store_option
@click.argument("org", metavar="ORG_ID")
@click.option("--active", "active_only", is_flag=True, help="Only active certificates.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def certs_list(org: str, active_only: bool, as_json: bool) -> None:
    """List an org's certificates.

    One line each: FINGERPRINT STATE NOT_AFTER LABEL.
    """

    async def action(registry: RegistryService) -> Sequence[CertificateRecord]:
        return await registry.list_certificates(org, include_retired=not active_only)

    records = run_with_registry(action)
    if as_json:
        echo_json([certificate_view(record) for record in records])
        return
    for record in records:
        click.echo(certificate_line(record))


def _set_state(org: str, fingerprint: str, state: str) -> None:
    given = CertificateStateInput(state=state)

    async def action(registry: RegistryService) -> tuple[CertificateRecord, int]:
        return await registry.set_certificate_state(org, fingerprint, given)

    record, active = run_with_registry(action)
    if state == "active" and record.not_after < time.time():
        warn(f"certificate {record.sha256_fingerprint} has expired: it verifies nothing")
    if not active:
        warn(f"org {record.org_id} has no active certificate left: its JWTs are refused")
    click.echo(certificate_line(record))


@certs.command("expiring")
@store_option
@click.option("--days", type=click.IntRange(0, 3650), default=30, show_default=True, help="The horizon.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (each with org_id and days_left).")
def certs_expiring(days: int, as_json: bool) -> None:
    """Active certificates of enabled orgs that expire within --days (or have expired), soonest first.

    One line each: ORG_ID DAYS_LEFT FINGERPRINT STATE NOT_AFTER LABEL (DAYS_LEFT is negative once
    expired). An org with none listed is safe for that long.
    """

    async def action(registry: RegistryService) -> Sequence[CertificateRecord]:
        return await registry.expiring_certificates(days=days)

    records = run_with_registry(action)
    now = time.time()
    if as_json:
        echo_json([
            {"org_id": r.org_id, "days_left": days_left(r.not_after, now), **certificate_view(r)} for r in records
        ])  # fmt: skip
        return
    for record in records:
        click.echo(f"{record.org_id}  {days_left(record.not_after, now)}  {certificate_line(record)}")


def days_left(not_after: float, now: float) -> int:
    """Whole days until ``not_after`` (rounded down; negative once past)."""
    return int((not_after - now) // 86400)


@certs.command("retire")
@store_option
@click.argument("org", metavar="ORG_ID")
@click.argument("fingerprint", callback=_fingerprint)
def certs_retire(org: str, fingerprint: str) -> None:
    """Stop trusting a certificate; it stays on record (activate undoes it)."""
    _set_state(org, fingerprint, "retired")


@certs.command("activate")
@store_option
@click.argument("org", metavar="ORG_ID")
@click.argument("fingerprint", callback=_fingerprint)
def certs_activate(org: str, fingerprint: str) -> None:
    """Trust a retired certificate again."""
    _set_state(org, fingerprint, "active")
