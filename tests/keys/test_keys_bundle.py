from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from forcegate.errors import ConfigurationError, KeyMaterialError
from forcegate.keys import (
    KeyEntry,
    describe_entry,
    load_keystore_file,
    read_jks,
    write_bundle,
)

PASSWORD = b"changeit"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_bundle_writes_four_files(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    paths = write_bundle(rsa_entry, directory=tmp_path, name="Forcegate_Cert", password=PASSWORD)
    assert paths.certificate == tmp_path / "Forcegate_Cert.crt"
    assert paths.private_key == tmp_path / "Forcegate_Cert.key.pem"
    assert paths.keystore == tmp_path / "Forcegate_Cert.jks"
    assert paths.pkcs12 == tmp_path / "Forcegate_Cert.p12"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["Forcegate_Cert.crt", "Forcegate_Cert.key.pem", "Forcegate_Cert.jks", "Forcegate_Cert.p12"]
    )
    assert rsa_entry.certificate is not None
    assert rsa_entry.private_key is not None
    assert paths.certificate.read_bytes() == rsa_entry.certificate.public_bytes(Encoding.PEM)
    assert paths.private_key.read_bytes() == rsa_entry.private_key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )


def test_secret_files_are_private(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    paths = write_bundle(rsa_entry, directory=tmp_path, name="secret", password=PASSWORD)
    assert _mode(paths.private_key) == 0o600
    assert _mode(paths.keystore) == 0o600
    assert _mode(paths.pkcs12) == 0o600
    assert not _mode(paths.certificate) & 0o022  # public, but never writable by others


def test_bundle_files_load_back_as_the_same_key(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    paths = write_bundle(rsa_entry, directory=tmp_path, name="Round_Trip", password=PASSWORD)
    jks = read_jks(paths.keystore.read_bytes(), password=PASSWORD)
    # Salesforce's import needs the key under the bundle's name, key password = store password.
    assert jks.get("Round_Trip").certificate == rsa_entry.certificate
    assert rsa_entry.private_key is not None
    expected = rsa_entry.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    for path in (paths.private_key, paths.pkcs12, paths.keystore):
        entry = load_keystore_file(path, password=PASSWORD).signing_entry()
        assert entry.certificate == (None if path == paths.private_key else rsa_entry.certificate)
        assert entry.private_key is not None
        assert entry.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()) == expected
    certificate_only = load_keystore_file(paths.certificate)
    assert [e.kind for e in certificate_only.entries] == ["certificate"]
    described = json.loads(json.dumps(describe_entry(jks.get("Round_Trip"))))
    assert described["alias"] == "round_trip"  # Java's JKS lower-cases aliases
    assert described["kind"] == "private_key"


def test_bundle_refuses_to_overwrite_and_leaves_existing_files_alone(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    existing = tmp_path / "taken.jks"
    existing.write_bytes(b"do not touch")
    with pytest.raises(ConfigurationError, match="overwrite"):
        write_bundle(rsa_entry, directory=tmp_path, name="taken", password=PASSWORD)
    assert existing.read_bytes() == b"do not touch"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.jks"]


def test_second_bundle_with_same_name_is_refused(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    write_bundle(rsa_entry, directory=tmp_path, name="once", password=PASSWORD)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ConfigurationError):
        write_bundle(rsa_entry, directory=tmp_path, name="once", password=PASSWORD)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_failed_bundle_leaves_nothing_behind(
    tmp_path: Path, rsa_entry: KeyEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import forcegate.keys.generate as generate

    real_place = generate._place
    calls: list[Path] = []

    def failing_place(path: Path, data: bytes, mode: int) -> None:
        calls.append(path)
        if path.suffix == ".p12":
            raise OSError("disk full")
        real_place(path, data, mode)

    monkeypatch.setattr(generate, "_place", failing_place)
    with pytest.raises(OSError, match="disk full"):
        write_bundle(rsa_entry, directory=tmp_path, name="partial", password=PASSWORD)
    assert len(calls) == 4
    assert list(tmp_path.iterdir()) == []


def test_bundle_creates_the_directory(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    paths = write_bundle(rsa_entry, directory=tmp_path / "new" / "dir", name="nested", password=PASSWORD)
    assert paths.keystore.is_file()


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "has space"])
def test_bundle_names_are_plain(tmp_path: Path, rsa_entry: KeyEntry, name: str) -> None:
    with pytest.raises(ConfigurationError, match="bundle name"):
        write_bundle(rsa_entry, directory=tmp_path, name=name, password=PASSWORD)
    assert list(tmp_path.iterdir()) == []


def test_short_password_is_refused(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    with pytest.raises(ConfigurationError, match="password"):
        write_bundle(rsa_entry, directory=tmp_path, name="short", password=b"12345")


def test_bundle_needs_a_private_key(tmp_path: Path, rsa_entry: KeyEntry) -> None:
    public_only = KeyEntry(alias="x", kind="certificate", source_format="pem", certificate=rsa_entry.certificate)
    with pytest.raises(KeyMaterialError, match="private key"):
        write_bundle(public_only, directory=tmp_path, name="x", password=PASSWORD)
