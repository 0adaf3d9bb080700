"""``forcegate apps import-metadata``: a Connected App from its .connectedApp-meta.xml file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.cli._stores import run_with_stores
from forcegate.stores import Stores
from helpers import Runner, self_signed
from salesforce.connected_app_samples import CONSUMER_KEY, connected_app_xml, der_base64

SECRET = "8F1D2C3B4A5968778695A4B3C2D1E0F0A1B2C3D4E5F60718293A4B5C6D7E8F90"
ORG = "00D5g000004ABCDEA4"


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FG_TEST_SECRET", SECRET)


@pytest.fixture
def certificate(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(rsa_key, cn="Acme Orders")


def _write(tmp_path: Path, data: bytes, name: str = "Acme_Orders.connectedApp-meta.xml") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _org_certificates() -> list[str]:
    async def action(stores: Stores) -> list[str]:
        return [record.sha256_fingerprint for record in await stores.trust.list_certificates(ORG)]

    return run_with_stores(action)


def _secrets() -> list[str]:
    async def action(stores: Stores) -> list[str]:
        return [secret.secret for secret in await stores.trust.app_secrets(CONSUMER_KEY)]

    return run_with_stores(action)


def test_import_registers_the_app_and_trusts_the_certificate(
    forcegate: Runner, tmp_path: Path, certificate: x509.Certificate, store_line: str
) -> None:
    assert forcegate("orgs", "add", ORG).code == 0
    file = _write(tmp_path, connected_app_xml(certificate=der_base64(certificate)))
    outcome = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET", "--org", ORG[:15])
    assert outcome.code == 0, outcome.err
    assert outcome.err == store_line
    lines = outcome.out.splitlines()
    assert lines[0] == f"imported app {CONSUMER_KEY} (Acme Orders)"
    assert "canvas URL: https://forcegate.example.com/canvas" in lines
    assert "access method: Post" in lines
    assert "locations: AuraComponent, Visualforce, Layout" in lines
    fingerprints = _org_certificates()
    assert len(fingerprints) == 1
    assert f"certificate: {fingerprints[0]} trusted for org {ORG}" in lines
    assert _secrets() == [SECRET]
    assert SECRET not in outcome.out
    shown = json.loads(forcegate("apps", "show", CONSUMER_KEY, "--json").out)
    assert shown["name"] == "Acme Orders"


def test_without_org_the_certificate_is_reported_not_trusted(
    forcegate: Runner, tmp_path: Path, certificate: x509.Certificate
) -> None:
    file = _write(tmp_path, connected_app_xml(certificate=der_base64(certificate)))
    outcome = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET", "--name", "Orders")
    assert outcome.code == 0, outcome.err
    assert "not trusted for any org" in outcome.out
    assert outcome.out.startswith(f"imported app {CONSUMER_KEY} (Orders)\n")


def test_get_access_method_is_warned_about(forcegate: Runner, tmp_path: Path) -> None:
    file = _write(tmp_path, connected_app_xml(access_method="Get"))
    outcome = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET")
    assert outcome.code == 0, outcome.err
    assert "access method: Get" in outcome.out
    assert "forcegate: warning: canvasConfig/accessMethod is Get, not Post" in outcome.err
    assert "Signed Request (POST)" in outcome.err


def test_an_unregistered_org_is_refused_and_nothing_is_written(
    forcegate: Runner, tmp_path: Path, certificate: x509.Certificate
) -> None:
    file = _write(tmp_path, connected_app_xml(certificate=der_base64(certificate)))
    outcome = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET", "--org", ORG)
    assert outcome.code == 1
    assert f"forcegate: not_found: no org {ORG} in the registry" in outcome.err
    assert forcegate("apps", "list").out == ""


def test_importing_twice_is_refused(forcegate: Runner, tmp_path: Path) -> None:
    file = _write(tmp_path, connected_app_xml())
    assert forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET").code == 0
    again = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET")
    assert again.code == 1
    assert "already_exists" in again.err


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"<ConnectedApp><oauthConfig>", 1, "invalid_connected_app_metadata: not well-formed XML"),
        (connected_app_xml(consumer_key=None), 1, "no oauthConfig/consumerKey"),
        (b'<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata"/>', 1, "not ConnectedApp"),
        (connected_app_xml(certificate="QUJD"), 2, "invalid_key_material: oauthConfig/certificate"),
    ],
)
def test_unusable_files_exit_with_one_clear_line(
    forcegate: Runner, tmp_path: Path, data: bytes, code: int, message: str
) -> None:
    outcome = forcegate("apps", "import-metadata", _write(tmp_path, data), "--secret-env", "FG_TEST_SECRET")
    assert outcome.code == code
    assert message in outcome.err
    assert outcome.err.count("\n") == 1
    assert forcegate("apps", "list").out == ""


def test_a_missing_file_and_a_missing_secret_are_usage_errors(forcegate: Runner, tmp_path: Path) -> None:
    missing = forcegate("apps", "import-metadata", str(tmp_path / "nope.xml"), "--secret-env", "FG_TEST_SECRET")
    assert missing.code == 2
    assert "unreadable_input: cannot read" in missing.err
    no_secret = forcegate("apps", "import-metadata", _write(tmp_path, connected_app_xml()))
    assert no_secret.code == 2
    assert "--secret-env" in no_secret.err


def test_an_expired_certificate_is_not_trusted(forcegate: Runner, tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    assert forcegate("orgs", "add", ORG).code == 0
    old = self_signed(rsa_key, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    file = _write(tmp_path, connected_app_xml(certificate=der_base64(old)))
    outcome = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET", "--org", ORG)
    assert outcome.code == 1
    assert outcome.err.startswith("forcegate: certificate_expired: ")
    assert _org_certificates() == []


def test_a_consumer_secret_in_the_file_is_ignored_with_a_warning(forcegate: Runner, tmp_path: Path) -> None:
    data = connected_app_xml(extra_oauth="\n        <consumerSecret>FILE-SECRET</consumerSecret>")
    outcome = forcegate("apps", "import-metadata", _write(tmp_path, data), "--secret-env", "FG_TEST_SECRET")
    assert outcome.code == 0, outcome.err
    assert "consumerSecret: it was ignored" in outcome.err
    assert "FILE-SECRET" not in outcome.out + outcome.err
    assert _secrets() == [SECRET]


@pytest.mark.parametrize(("options", "expected"), [([], "Acme_Orders"), (["--namespace", "acme"], "acme__Acme_Orders")])
def test_the_canvas_name_comes_from_the_file_name(
    forcegate: Runner, tmp_path: Path, options: list[str], expected: str
) -> None:
    file = _write(tmp_path, connected_app_xml())
    outcome = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET", *options)
    assert outcome.code == 0, outcome.err
    assert f"canvas name: {expected}" in outcome.out.splitlines()
    assert json.loads(forcegate("apps", "show", CONSUMER_KEY, "--json").out)["canvas_name"] == expected


def test_a_file_name_that_is_no_developer_name_leaves_the_canvas_name_unset(forcegate: Runner, tmp_path: Path) -> None:
    file = _write(tmp_path, connected_app_xml(), name="acme-orders.xml")
    outcome = forcegate("apps", "import-metadata", file, "--secret-env", "FG_TEST_SECRET")
    assert outcome.code == 0, outcome.err
    assert "acme-orders is not a developer name" in outcome.err
    assert json.loads(forcegate("apps", "show", CONSUMER_KEY, "--json").out)["canvas_name"] is None
