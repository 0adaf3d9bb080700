"""``forcegate sfdx scaffold``: writes the tree, prints each file, refuses bad input with exit 2."""

from __future__ import annotations

from pathlib import Path

from forcegate.cli import sfdx_commands
from forcegate.devtools.sfdx import CALLOUT_MODES, DEFAULT_CERT_NAME, DEFAULT_ISSUER
from helpers import Runner


def test_scaffold_writes_and_lists_every_file(forcegate: Runner, tmp_path: Path) -> None:
    out = forcegate("sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "https://svc.example.com")
    assert out.code == 0, out.err
    listed = out.out.splitlines()
    assert len(listed) == 42
    assert str(tmp_path / "sfdx-project.json") in listed
    assert str(tmp_path / "force-app/main/default/classes/ForcegateClient.cls") in listed
    assert all(Path(line).is_file() for line in listed)
    assert out.err == ""


def test_options_reach_the_generated_code(forcegate: Runner, tmp_path: Path) -> None:
    out = forcegate(
        "sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "https://svc.example.com/",
        "--namespace", "acme", "--cert-name", "acme_jwt",
    )  # fmt: skip
    assert out.code == 0, out.err
    root = tmp_path / "force-app/main/default"
    client = (root / "classes/ForcegateClient.cls").read_text()
    assert "CACHE_PARTITION = 'acme.forcegate';" in client
    service = (root / "customMetadata/Forcegate_Service.Default.md-meta.xml").read_text()
    assert '<value xsi:type="xsd:string">acme_jwt</value>' in service
    assert '<value xsi:type="xsd:string">https://svc.example.com</value>' in service
    lwc = (root / "lwc/forcegateIdentity/forcegateIdentity.js").read_text()
    assert '"@salesforce/apex/ForcegateController.getIdentity"' in lwc


def test_existing_files_need_force(forcegate: Runner, tmp_path: Path) -> None:
    args = ("sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "https://svc.example.com")
    assert forcegate(*args).code == 0
    again = forcegate(*args)
    assert again.code == 2
    assert again.err.startswith("forcegate: configuration_error: refusing to overwrite ")
    assert "--force" in again.err
    forced = forcegate(*args, "--force")
    assert forced.code == 0, forced.err
    # The project file is the user's once it exists: --force rewrites only the generated sources.
    assert len(forced.out.splitlines()) == 41


def test_plain_http_to_a_public_host_is_refused(forcegate: Runner, tmp_path: Path) -> None:
    out = forcegate("sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "http://svc.example.com")
    assert out.code == 2
    assert out.err == (
        "forcegate: configuration_error: service URL 'http://svc.example.com' must use https "
        "(plain http only for localhost/loopback)\n"
    )
    assert not any(tmp_path.iterdir())


def test_a_token_endpoint_url_is_refused_naming_the_base_url(forcegate: Runner, tmp_path: Path) -> None:
    # Issue 16: this used to generate SERVICE_URL/oauth2/token/oauth2/token.
    out = forcegate("sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "https://x.example/oauth2/token")
    assert out.code == 2
    assert out.err == (
        "forcegate: configuration_error: service URL 'https://x.example/oauth2/token' names the endpoint "
        "'/oauth2/token': give the service's base URL (FORCEGATE_PUBLIC_URL, here https://x.example); "
        "Apex adds /oauth2/token itself\n"
    )
    assert not any(tmp_path.iterdir())


def test_invalid_names_are_refused(forcegate: Runner, tmp_path: Path) -> None:
    base = ("sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "https://svc.example.com")
    bad_cert = forcegate(*base, "--cert-name", "my-cert")
    assert bad_cert.code == 2
    assert "certificate name 'my-cert' is not a valid Salesforce name" in bad_cert.err
    bad_namespace = forcegate(*base, "--namespace", "acme.corp")
    assert bad_namespace.code == 2
    assert "namespace 'acme.corp'" in bad_namespace.err


def test_missing_required_options_are_usage_errors(forcegate: Runner, tmp_path: Path) -> None:
    out = forcegate("sfdx", "scaffold", "--dir", str(tmp_path))
    assert out.code == 2
    assert "--service-url" in out.err


def test_the_named_credential_mode_and_its_issuer(forcegate: Runner, tmp_path: Path) -> None:
    out = forcegate(
        "sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "https://svc.example.com",
        "--callout", "named-credential", "--issuer", "acme-forcegate",
    )  # fmt: skip
    assert out.code == 0, out.err
    root = tmp_path / "force-app/main/default"
    credential = (root / "externalCredentials/Forcegate.externalCredential-meta.xml").read_text()
    assert "<parameterValue>acme-forcegate</parameterValue>" in credential
    assert "callout:" in (root / "classes/ForcegateClient.cls").read_text()
    assert not (root / "remoteSiteSettings").exists()


def test_an_unknown_callout_mode_or_a_bad_issuer_is_refused(forcegate: Runner, tmp_path: Path) -> None:
    base = ("sfdx", "scaffold", "--dir", str(tmp_path), "--service-url", "https://svc.example.com")
    mode = forcegate(*base, "--callout", "soap")
    assert mode.code == 2
    assert "'soap' is not one of 'apex', 'named-credential'" in mode.err
    issuer = forcegate(*base, "--callout", "named-credential", "--issuer", "00D5g000004ABCDEA4")
    assert issuer.code == 2
    assert "looks like an org id" in issuer.err
    assert not any(tmp_path.iterdir())


def test_the_defaults_are_the_scaffolds() -> None:
    # Spelled out in the command so that building the CLI does not import forcegate.devtools.
    assert sfdx_commands.DEFAULT_CERT_NAME == DEFAULT_CERT_NAME
    assert sfdx_commands.CALLOUT_MODES == CALLOUT_MODES
    assert sfdx_commands.DEFAULT_ISSUER == DEFAULT_ISSUER
