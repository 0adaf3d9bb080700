"""Interoperability with Java 17's keytool, in both directions. These always run: no keytool, no pass."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from forcegate.keys import (
    KeyEntry,
    load_keystore,
    load_keystore_file,
    read_jks,
    sha256_fingerprint,
    write_bundle,
    write_jks,
    write_pkcs12,
)
from forcegate.keys.model import same_public_key
from keys.keys_support import Chain, KeytoolStores

PASSWORD = b"changeit"

Runner = Callable[..., str]


def _listing(output: str) -> dict[str, dict[str, str]]:
    """``keytool -list -v`` output as {alias: {"type": entry type, "sha256": fingerprint}}, the
    fingerprint in forcegate's form (keytool prints ``AB:CD:…``; forcegate lowercase hex)."""
    result: dict[str, dict[str, str]] = {}
    for block in output.split("Alias name: ")[1:]:
        alias = block.splitlines()[0].strip()
        entry_type = re.search(r"Entry type: (\w+)", block)
        fingerprint = re.search(r"SHA256: ([0-9A-F:]{95})", block)
        assert entry_type is not None
        assert fingerprint is not None
        result[alias] = {"type": entry_type.group(1), "sha256": fingerprint.group(1).replace(":", "").lower()}
    return result


def _certificate(entry: KeyEntry) -> x509.Certificate:
    assert entry.certificate is not None
    return entry.certificate


def test_keytool_lists_our_jks(tmp_path: Path, run_keytool: Runner, rsa_entry: KeyEntry, ec_entry: KeyEntry,
                               second_rsa_entry: KeyEntry) -> None:  # fmt: skip
    trusted = KeyEntry(
        alias="partner", kind="certificate", source_format="pem", certificate=second_rsa_entry.certificate
    )
    path = tmp_path / "ours.jks"
    path.write_bytes(write_jks([rsa_entry, ec_entry, trusted], password=PASSWORD))
    output = run_keytool("-list", "-v", "-keystore", str(path), "-storepass", "changeit", "-storetype", "JKS")
    assert "Keystore type: JKS" in output
    assert _listing(output) == {
        "forcegate_test": {"type": "PrivateKeyEntry", "sha256": sha256_fingerprint(_certificate(rsa_entry))},
        "ec_p256": {"type": "PrivateKeyEntry", "sha256": sha256_fingerprint(_certificate(ec_entry))},
        "partner": {"type": "trustedCertEntry", "sha256": sha256_fingerprint(_certificate(second_rsa_entry))},
    }


def test_keytool_rejects_our_jks_with_a_wrong_password(
    tmp_path: Path, run_keytool: Runner, rsa_entry: KeyEntry
) -> None:
    path = tmp_path / "ours.jks"
    path.write_bytes(write_jks([rsa_entry], password=PASSWORD))
    output = run_keytool("-list", "-keystore", str(path), "-storepass", "wrongpass", expect_ok=False)
    assert "password was incorrect" in output


def test_keytool_can_use_our_private_key(tmp_path: Path, run_keytool: Runner, rsa_entry: KeyEntry) -> None:
    # Exporting to PKCS#12 makes keytool decrypt the key with the KeyProtector, not just list it.
    source = tmp_path / "ours.jks"
    source.write_bytes(write_jks([rsa_entry], password=PASSWORD))
    target = tmp_path / "converted.p12"
    run_keytool(
        "-importkeystore", "-srckeystore", str(source), "-srcstoretype", "JKS", "-srcstorepass", "changeit",
        "-destkeystore", str(target), "-deststoretype", "PKCS12", "-deststorepass", "changeit",
    )  # fmt: skip
    converted = load_keystore_file(target, password=PASSWORD).signing_entry()
    assert converted.certificate == rsa_entry.certificate
    assert isinstance(converted.private_key, RSAPrivateKey)
    assert isinstance(rsa_entry.private_key, RSAPrivateKey)
    assert converted.private_key.private_numbers() == rsa_entry.private_key.private_numbers()


def test_keytool_opens_our_bundle(tmp_path: Path, run_keytool: Runner, rsa_entry: KeyEntry) -> None:
    paths = write_bundle(rsa_entry, directory=tmp_path, name="Salesforce_Import", password=PASSWORD)
    expected = {"salesforce_import": {"type": "PrivateKeyEntry", "sha256": sha256_fingerprint(_certificate(rsa_entry))}}
    for path, store_type in ((paths.keystore, "JKS"), (paths.pkcs12, "PKCS12")):
        output = run_keytool("-list", "-v", "-keystore", str(path), "-storepass", "changeit", "-storetype", store_type)
        assert _listing(output) == expected


def test_keytool_opens_our_pkcs12_with_chain(tmp_path: Path, run_keytool: Runner, chain: Chain) -> None:
    entry = KeyEntry(
        alias="Leaf", kind="private_key", source_format="pem", certificate=chain.leaf,
        chain=(chain.leaf, chain.intermediate, chain.root), private_key=chain.leaf_key,
    )  # fmt: skip
    path = tmp_path / "chain.p12"
    path.write_bytes(write_pkcs12(entry, password=PASSWORD))
    output = run_keytool("-list", "-v", "-keystore", str(path), "-storepass", "changeit", "-storetype", "PKCS12")
    assert "Certificate chain length: 3" in output
    assert _listing(output)["leaf"] == {"type": "PrivateKeyEntry", "sha256": sha256_fingerprint(chain.leaf)}


def _check_keytool_store(entries: tuple[KeyEntry, ...], source_format: str, trusted_pem: Path) -> None:
    by_alias = {entry.alias: entry for entry in entries}
    assert set(by_alias) == {"keytoolkey", "trustedone"}
    key_entry = by_alias["keytoolkey"]
    assert key_entry.kind == "private_key"
    assert key_entry.source_format == source_format
    assert isinstance(key_entry.private_key, RSAPrivateKey)
    assert key_entry.private_key.key_size == 2048
    assert key_entry.certificate is not None
    assert same_public_key(key_entry.certificate.public_key(), key_entry.private_key.public_key())
    assert "CN=keytool" in key_entry.certificate.subject.rfc4514_string()
    trusted = by_alias["trustedone"]
    assert trusted.kind == "certificate"
    assert trusted.private_key is None
    assert trusted.certificate == x509.load_pem_x509_certificate(trusted_pem.read_bytes())


def test_read_jks_made_by_keytool(keytool_stores: KeytoolStores) -> None:
    keystore = read_jks(keytool_stores.jks.read_bytes(), password=PASSWORD)
    _check_keytool_store(keystore.entries, "jks", keytool_stores.trusted_cert_pem)
    assert keystore.get("KeytoolKey").alias == "keytoolkey"  # found although Java lower-cased it


def test_load_pkcs12_made_by_keytool(keytool_stores: KeytoolStores) -> None:
    keystore = load_keystore(keytool_stores.pkcs12.read_bytes(), password=PASSWORD)
    _check_keytool_store(keystore.entries, "pkcs12", keytool_stores.trusted_cert_pem)


def test_keytool_store_round_trips_through_our_writer(
    tmp_path: Path, run_keytool: Runner, keytool_stores: KeytoolStores
) -> None:
    original = read_jks(keytool_stores.jks.read_bytes(), password=PASSWORD)
    path = tmp_path / "rewritten.jks"
    path.write_bytes(write_jks(original.entries, password=PASSWORD))
    output = run_keytool("-list", "-v", "-keystore", str(path), "-storepass", "changeit", "-storetype", "JKS")
    listing = _listing(output)
    assert listing["keytoolkey"]["type"] == "PrivateKeyEntry"
    assert listing["trustedone"]["type"] == "trustedCertEntry"
    assert listing["keytoolkey"]["sha256"] == sha256_fingerprint(_certificate(original.get("keytoolkey")))
