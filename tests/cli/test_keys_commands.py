from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import Runner

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    # The real installed entry point, once: the other tests run in-process for speed.
    directory = tmp_path_factory.mktemp("keys")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "forcegate.cli",
            "keys",
            "new",
            "acme",
            "--dir",
            str(directory),
            "--password-env",
            "FG_TEST_PW",
            "--days",
            "30",
        ],
        env={"FG_TEST_PW": PASSWORD, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return directory, json.loads(result.stdout)


def test_keys_new_writes_the_four_files_and_reports_them(bundle: tuple[Path, dict[str, object]]) -> None:
    directory, report = bundle
    for field, suffix in [
        ("certificate", ".crt"),
        ("private_key", ".key.pem"),
        ("keystore", ".jks"),
        ("pkcs12", ".p12"),
    ]:
        path = Path(str(report[field]))
        assert path == directory / f"acme{suffix}"
        assert path.stat().st_size > 0
    assert report["key_size"] == 2048
    assert re.fullmatch(r"[0-9a-f]{64}", str(report["sha256_fingerprint"]))  # the form `certs list` prints
    assert str(report["not_after"]).endswith("Z")
    assert report["keystore_password_file"] is None
    assert stat.S_IMODE((directory / "acme.key.pem").stat().st_mode) == 0o600
    assert PASSWORD not in json.dumps(report)


def test_keys_new_generates_a_password_file_when_none_is_given(
    forcegate: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = forcegate("keys", "new", "gen", "--dir", str(tmp_path))
    assert outcome.code == 0, outcome.err
    report = json.loads(outcome.out)
    password_file = Path(report["keystore_password_file"])
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 24
    assert password not in outcome.out
    # and that password opens the keystore
    monkeypatch.setenv("FG_TEST_GEN_PW", password)
    inspected = forcegate("keys", "inspect", str(tmp_path / "gen.jks"), "--password-env", "FG_TEST_GEN_PW")
    assert inspected.code == 0, inspected.err
    assert json.loads(inspected.out)["entries"][0]["alias"] == "gen"


def test_keys_new_refuses_to_overwrite(forcegate: Runner, tmp_path: Path) -> None:
    assert forcegate("keys", "new", "dup", "--dir", str(tmp_path)).code == 0
    again = forcegate("keys", "new", "dup", "--dir", str(tmp_path))
    assert again.code == 2
    assert again.err.startswith("forcegate: ")


def test_keys_new_rejects_a_size_salesforce_does_not_offer(forcegate: Runner, tmp_path: Path) -> None:
    outcome = forcegate("keys", "new", "x", "--dir", str(tmp_path), "--key-size", "1024")
    assert outcome.code == 2
    assert not list(tmp_path.iterdir())


def test_keys_new_with_an_unset_password_variable(forcegate: Runner, tmp_path: Path) -> None:
    outcome = forcegate("keys", "new", "x", "--dir", str(tmp_path), "--password-env", "FG_TEST_UNSET_VARIABLE")
    assert outcome.code == 2
    assert "FG_TEST_UNSET_VARIABLE" in outcome.err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".crt", ".jks", ".p12"])
def test_keys_inspect_each_format(
    forcegate: Runner, bundle: tuple[Path, dict[str, object]], suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, report = bundle
    monkeypatch.setenv("FG_TEST_PW", PASSWORD)
    outcome = forcegate("keys", "inspect", str(directory / f"acme{suffix}"), "--password-env", "FG_TEST_PW")
    assert outcome.code == 0, outcome.err
    entries = json.loads(outcome.out)["entries"]
    assert [e["sha256_fingerprint"] for e in entries if "sha256_fingerprint" in e] == [report["sha256_fingerprint"]]
    assert "PRIVATE KEY" not in outcome.out


def test_keys_inspect_private_key_never_prints_it(forcegate: Runner, bundle: tuple[Path, dict[str, object]]) -> None:
    directory, _ = bundle
    outcome = forcegate("keys", "inspect", str(directory / "acme.key.pem"))
    assert outcome.code == 0, outcome.err
    key_body = (directory / "acme.key.pem").read_text().splitlines()[1]
    assert key_body not in outcome.out
    assert json.loads(outcome.out)["entries"][0]["kind"] == "private_key"


def test_keys_inspect_wrong_password(
    forcegate: Runner, bundle: tuple[Path, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, _ = bundle
    monkeypatch.setenv("FG_TEST_PW", "not-the-password")
    outcome = forcegate("keys", "inspect", str(directory / "acme.jks"), "--password-env", "FG_TEST_PW")
    assert outcome.code == 2
    assert outcome.err.startswith("forcegate: keystore_password: ")
    assert "not-the-password" not in outcome.err


@pytest.mark.parametrize("suffix", [".jks", ".p12"])
def test_keys_inspect_without_a_password_names_the_option(
    forcegate: Runner, bundle: tuple[Path, dict[str, object]], suffix: str
) -> None:
    directory, _ = bundle
    outcome = forcegate("keys", "inspect", str(directory / f"acme{suffix}"))
    assert outcome.code == 2
    assert outcome.err.startswith("forcegate: keystore_password: ")
    assert "a password is required; give it with --password-env VAR" in outcome.err
    assert len(outcome.err.splitlines()) == 1


def test_keys_inspect_fingerprint_is_the_registry_form(
    forcegate: Runner, bundle: tuple[Path, dict[str, object]]
) -> None:
    # One form everywhere: what `keys inspect` prints is what `certs add`/`certs list` print.
    directory, report = bundle
    inspected = json.loads(forcegate("keys", "inspect", str(directory / "acme.crt")).out)
    assert forcegate("init").code == 0
    assert forcegate("orgs", "add", "00D5g000004SXyz").code == 0
    added = forcegate("certs", "add", "00D5g000004SXyz", str(directory / "acme.crt"), "--json")
    assert added.code == 0, added.err
    listed = forcegate("certs", "list", "00D5g000004SXyz")
    fingerprint = report["sha256_fingerprint"]
    assert inspected["entries"][0]["sha256_fingerprint"] == fingerprint
    assert json.loads(added.out)[0]["sha256_fingerprint"] == fingerprint
    assert listed.out.split("  ")[0] == fingerprint


def test_keys_inspect_garbage(forcegate: Runner, tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not a key")
    outcome = forcegate("keys", "inspect", str(junk))
    assert outcome.code == 2
    assert outcome.err.count("\n") == 1
    assert outcome.err.startswith("forcegate: invalid_key_material: ")


def test_missing_file_is_exit_2(forcegate: Runner, tmp_path: Path) -> None:
    assert forcegate("keys", "inspect", str(tmp_path / "absent.pem")).code == 2


def test_usage_error_is_exit_2(forcegate: Runner) -> None:
    assert forcegate("keys", "new").code == 2
    assert forcegate("no-such-command").code == 2


def test_help_and_version_exit_0(forcegate: Runner) -> None:
    assert forcegate("--help").code == 0
    version = forcegate("--version")
    assert version.code == 0
    assert "forcegate" in version.out
