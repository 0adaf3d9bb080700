from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from forcegate.keys import KeyEntry, self_signed_certificate, write_jks, write_pkcs12
from helpers import Runner

ORG15 = "00D5g000004SXyz"
ORG18 = "00D5g000004SXyzEAG"
PASSWORD = "keystore-pass-1"


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_KEYSTORE_PW", PASSWORD)
    monkeypatch.setenv("FG_TEST_WRONG_PW", "not-the-password")


@pytest.fixture
def org(forcegate: Runner) -> str:
    outcome = forcegate("orgs", "add", ORG15)
    assert outcome.code == 0, outcome.err
    return ORG18


def certificate(key: rsa.RSAPrivateKey, cn: str, *, days: int = 365, started_days_ago: int = 0) -> x509.Certificate:
    now = datetime.now(UTC) - timedelta(days=started_days_ago)
    return self_signed_certificate(key, cn=cn, days=days, now=now)


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def iso(cert: x509.Certificate) -> str:
    return cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def private_entry(key: rsa.RSAPrivateKey, cert: x509.Certificate, alias: str) -> KeyEntry:
    return KeyEntry(
        alias=alias,
        kind="private_key",
        source_format="pem",
        certificate=cert,
        chain=(cert,),
        private_key=key,
        public_key=key.public_key(),
    )


def certificate_entry(cert: x509.Certificate, alias: str) -> KeyEntry:
    return KeyEntry(alias=alias, kind="certificate", source_format="pem", certificate=cert, chain=(cert,))


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def listed(forcegate: Runner, org: str, *options: str) -> list[dict[str, object]]:
    outcome = forcegate("certs", "list", org, "--json", *options)
    assert outcome.code == 0, outcome.err
    records = json.loads(outcome.out)
    assert isinstance(records, list)
    return records


@pytest.mark.parametrize("form", ["jks", "pkcs12"])
def test_a_keystore_without_a_password_names_the_option(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, form: str
) -> None:
    cert = certificate(rsa_key, "acme_signing")
    entry = private_entry(rsa_key, cert, "acme")
    data = (
        write_jks([entry], password=PASSWORD.encode())
        if form == "jks"
        else write_pkcs12(entry, password=PASSWORD.encode())
    )
    outcome = forcegate("certs", "add", org, write(tmp_path / f"acme.{form}", data))
    assert outcome.code == 2
    assert outcome.err.startswith("forcegate: keystore_password: ")
    assert "give it with --password-env VAR" in outcome.err
    assert listed(forcegate, org) == []


@pytest.mark.parametrize("form", ["pem", "der", "jks", "pkcs12", "pem-with-key"])
def test_add_each_format(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, form: str, store_line: str
) -> None:
    cert = certificate(rsa_key, "acme_signing")
    options: list[str] = []
    if form == "pem":
        file = write(tmp_path / "acme.crt", cert.public_bytes(Encoding.PEM))
    elif form == "der":
        file = write(tmp_path / "acme.cer", cert.public_bytes(Encoding.DER))
    elif form == "jks":
        file = write(
            tmp_path / "acme.jks", write_jks([private_entry(rsa_key, cert, "acme")], password=PASSWORD.encode())
        )
        options = ["--password-env", "FG_TEST_KEYSTORE_PW"]
    elif form == "pkcs12":
        file = write(
            tmp_path / "acme.p12", write_pkcs12(private_entry(rsa_key, cert, "acme"), password=PASSWORD.encode())
        )
        options = ["--password-env", "FG_TEST_KEYSTORE_PW"]
    else:
        key_pem = rsa_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        file = write(tmp_path / "acme.pem", key_pem + cert.public_bytes(Encoding.PEM))
    outcome = forcegate("certs", "add", org, file, *options)
    assert outcome.code == 0, outcome.err
    [line] = outcome.out.splitlines()
    assert line.split("  ")[:3] == [fingerprint(cert), "active", iso(cert)]
    assert outcome.err == store_line
    assert "PRIVATE KEY" not in outcome.out
    [record] = listed(forcegate, org)
    assert record["sha256_fingerprint"] == fingerprint(cert)
    assert record["not_after"] == iso(cert)


def test_label_defaults_to_the_alias_and_can_be_given(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    first = certificate(rsa_key, "first_cn")
    keystore = write(
        tmp_path / "a.jks", write_jks([private_entry(rsa_key, first, "Signing_2025")], password=PASSWORD.encode())
    )
    assert forcegate("certs", "add", org, keystore, "--password-env", "FG_TEST_KEYSTORE_PW").code == 0
    second = certificate(other_rsa_key, "second_cn")
    pem = write(tmp_path / "b.crt", second.public_bytes(Encoding.PEM))
    assert forcegate("certs", "add", org, pem, "--label", "rotation 2026").code == 0
    labels = {record["sha256_fingerprint"]: record["label"] for record in listed(forcegate, org)}
    assert labels == {fingerprint(first): "signing_2025", fingerprint(second): "rotation 2026"}


def test_wrong_or_missing_keystore_password(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    cert = certificate(rsa_key, "acme")
    entry = private_entry(rsa_key, cert, "acme")
    jks = write(tmp_path / "acme.jks", write_jks([entry], password=PASSWORD.encode()))
    p12 = write(tmp_path / "acme.p12", write_pkcs12(entry, password=PASSWORD.encode()))
    for file in (jks, p12):
        wrong = forcegate("certs", "add", org, file, "--password-env", "FG_TEST_WRONG_PW")
        assert wrong.code == 2
        assert wrong.err.startswith("forcegate: keystore_password: ")
        missing = forcegate("certs", "add", org, file)
        assert missing.code == 2
        assert missing.err.startswith("forcegate: keystore_password: ")
        unset = forcegate("certs", "add", org, file, "--password-env", "FG_TEST_UNSET_PW")
        assert unset.code == 2
    assert PASSWORD not in wrong.err
    assert listed(forcegate, org) == []


def test_a_bare_public_key_is_refused(forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = write(
        tmp_path / "key.pub", rsa_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    outcome = forcegate("certs", "add", org, pem)
    assert outcome.code == 2
    assert outcome.err.startswith("forcegate: invalid_key_material: ")
    assert "holds no certificate" in outcome.err
    assert "trust certificates" in outcome.err


def test_unreadable_files(forcegate: Runner, org: str, tmp_path: Path) -> None:
    missing = forcegate("certs", "add", org, str(tmp_path / "missing.crt"))
    assert missing.code == 2
    junk = forcegate("certs", "add", org, write(tmp_path / "junk.crt", b"not a certificate"))
    assert junk.code == 2
    assert junk.err.startswith("forcegate: invalid_key_material: ")


def test_an_expired_certificate_is_refused(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    cert = certificate(rsa_key, "old", days=5, started_days_ago=10)
    pem = write(tmp_path / "old.crt", cert.public_bytes(Encoding.PEM))
    refused = forcegate("certs", "add", org, pem)
    assert refused.code == 1
    assert refused.err.startswith("forcegate: certificate_expired: ")
    assert listed(forcegate, org) == []
    assert forcegate("certs", "add", org, pem, "--allow-expired").code == 2  # no such option any more


def test_expiring_soon_warns(forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    cert = certificate(rsa_key, "soon", days=10)
    outcome = forcegate("certs", "add", org, write(tmp_path / "soon.crt", cert.public_bytes(Encoding.PEM)))
    assert outcome.code == 0, outcome.err
    store, warning = outcome.err.splitlines()
    assert store.startswith("forcegate: store: ")
    assert warning.startswith("forcegate: warning: ")
    assert "expires in 9 day(s)" in outcome.err or "expires in 10 day(s)" in outcome.err


def test_weak_key_is_refused(forcegate: Runner, org: str, tmp_path: Path, weak_rsa_key: rsa.RSAPrivateKey) -> None:
    cert = certificate(weak_rsa_key, "weak")
    outcome = forcegate("certs", "add", org, write(tmp_path / "weak.crt", cert.public_bytes(Encoding.PEM)))
    assert outcome.code == 1  # read, then refused by the key policy
    assert outcome.err.startswith("forcegate: weak_key: ")


def test_unknown_org_and_duplicate(forcegate: Runner, tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = write(tmp_path / "a.crt", certificate(rsa_key, "a").public_bytes(Encoding.PEM))
    unknown = forcegate("certs", "add", ORG15, pem)
    assert unknown.code == 1
    assert unknown.err.startswith(f"forcegate: not_found: no org {ORG18}")
    assert forcegate("certs", "add", "bad", pem).code == 1
    assert forcegate("orgs", "add", ORG15).code == 0
    assert forcegate("certs", "add", ORG15, pem).code == 0
    again = forcegate("certs", "add", ORG15, pem)
    assert again.code == 1
    assert again.err.startswith("forcegate: already_exists: ")


def test_a_keystore_with_several_certificates(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    old, new = certificate(rsa_key, "old"), certificate(other_rsa_key, "new")
    store = write_jks([certificate_entry(old, "old"), certificate_entry(new, "new")], password=PASSWORD.encode())
    file = write(tmp_path / "trust.jks", store)
    picked = forcegate("certs", "add", org, file, "--alias", "new", "--password-env", "FG_TEST_KEYSTORE_PW")
    assert picked.code == 0, picked.err
    assert [r["sha256_fingerprint"] for r in listed(forcegate, org)] == [fingerprint(new)]
    # every certificate at once; the one already there makes the whole file a duplicate
    assert forcegate("certs", "add", org, file, "--password-env", "FG_TEST_KEYSTORE_PW").code == 1
    assert len(listed(forcegate, org)) == 1
    assert forcegate("certs", "retire", org, fingerprint(new)).code == 0
    assert forcegate("orgs", "remove", org).code == 0
    assert forcegate("orgs", "add", org).code == 0
    both = forcegate("certs", "add", org, file, "--password-env", "FG_TEST_KEYSTORE_PW", "--json")
    assert both.code == 0, both.err
    added = json.loads(both.out)
    assert sorted(r["sha256_fingerprint"] for r in added) == sorted([fingerprint(old), fingerprint(new)])
    assert {r["label"] for r in added} == {"old", "new"}
    missing = forcegate("certs", "add", org, file, "--alias", "nope", "--password-env", "FG_TEST_KEYSTORE_PW")
    assert missing.code == 2
    assert "no entry with alias 'nope'" in missing.err


def test_retire_and_activate_during_a_rotation(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    old, new = certificate(rsa_key, "old"), certificate(other_rsa_key, "new")
    for name, cert in (("old", old), ("new", new)):
        assert (
            forcegate("certs", "add", org, write(tmp_path / f"{name}.crt", cert.public_bytes(Encoding.PEM))).code == 0
        )
    assert {r["state"] for r in listed(forcegate, org)} == {"active"}  # both active at once: normal

    # keytool's colon form, upper case, as people copy it
    colons = ":".join(fingerprint(old)[i : i + 2] for i in range(0, 64, 2)).upper()
    retired = forcegate("certs", "retire", ORG15, colons)
    assert retired.code == 0, retired.err
    assert retired.out.startswith(f"{fingerprint(old)}  retired  ")
    assert retired.err.startswith("forcegate: store: ")
    assert len(retired.err.splitlines()) == 1
    assert [r["sha256_fingerprint"] for r in listed(forcegate, org, "--active")] == [fingerprint(new)]
    assert len(listed(forcegate, org)) == 2

    last = forcegate("certs", "retire", org, fingerprint(new)[:12])  # a unique prefix
    assert last.code == 0, last.err
    assert "no active certificate left" in last.err

    activated = forcegate("certs", "activate", org, fingerprint(old))
    assert activated.code == 0, activated.err
    assert activated.out.startswith(f"{fingerprint(old)}  active  ")
    human = forcegate("certs", "list", org).out.splitlines()
    assert sorted(line.split("  ")[1] for line in human) == ["active", "retired"]


def test_retire_errors(forcegate: Runner, org: str) -> None:
    unknown = forcegate("certs", "retire", org, "ab" * 32)
    assert unknown.code == 1
    assert unknown.err.startswith("forcegate: not_found: ")
    assert forcegate("certs", "retire", org, "abc").code == 2  # too short to be a prefix
    assert forcegate("certs", "retire", org, "zz" * 32).code == 2
    assert forcegate("certs", "list", ORG15[:-1] + "A").code == 1  # another, unknown org


def test_orgs_show_lists_the_certificates(
    forcegate: Runner, org: str, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    cert = certificate(rsa_key, "acme")
    assert (
        forcegate(
            "certs", "add", org, write(tmp_path / "a.crt", cert.public_bytes(Encoding.PEM)), "--label", "main"
        ).code
        == 0
    )
    human = forcegate("orgs", "show", org).out
    assert "certificates: 1" in human
    assert f"  {fingerprint(cert)}  active  {iso(cert)}  main" in human.splitlines()
    [record] = json.loads(forcegate("orgs", "show", org, "--json").out)["certificates"]
    assert (record["sha256_fingerprint"], record["label"], record["not_after"], record["state"]) == (
        fingerprint(cert),
        "main",
        iso(cert),
        "active",
    )


def test_a_certificate_in_a_rotation_overlap_reads_retiring() -> None:
    import dataclasses
    import time

    from forcegate.cli.certs_commands import certificate_line
    from forcegate.stores.models import CertificateRecord

    now = time.time()
    record = CertificateRecord(
        id=1, org_id="00D5g000004ABCDEA4", label="old", der=b"x", sha256_fingerprint="ab" * 32, x5t_s256="x",
        subject="CN=old", not_before=now - 86400, not_after=now + 86400 * 30, retire_at=1_800_000_000.0,
    )  # fmt: skip
    assert "  active/retiring-2027-01-15T08:00:00Z  " in certificate_line(record)
    assert "retiring" not in certificate_line(dataclasses.replace(record, retire_at=None))
    assert "retiring" not in certificate_line(dataclasses.replace(record, state="retired"))
