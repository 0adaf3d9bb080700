"""forcegate.devtools.sfdx: inputs are validated, values escaped, files rendered and written safely."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import pytest

import forcegate.devtools.sfdx
from forcegate.devtools.sfdx import API_VERSION, normalise_service_url, plan_scaffold, write_scaffold
from forcegate.devtools.sfdx._scaffold import SOURCE_ROOT, _apex_literal, _html_text, _js_literal, _render
from forcegate.errors import ConfigurationError

METADATA_NS = "{http://soap.sforce.com/2006/04/metadata}"
EXPECTED = {
    "cachePartitions/forcegate.cachePartition-meta.xml",
    "classes/ForcegateCanvasLifecycle.cls",
    "classes/ForcegateCanvasLifecycle.cls-meta.xml",
    "classes/ForcegateCanvasLifecycleTest.cls",
    "classes/ForcegateCanvasLifecycleTest.cls-meta.xml",
    "classes/ForcegateClient.cls",
    "classes/ForcegateClient.cls-meta.xml",
    "classes/ForcegateClientTest.cls",
    "classes/ForcegateClientTest.cls-meta.xml",
    "classes/ForcegateController.cls",
    "classes/ForcegateController.cls-meta.xml",
    "cspTrustedSites/ForcegateService.cspTrustedSite-meta.xml",
    "lwc/forcegateIdentity/forcegateIdentity.html",
    "lwc/forcegateIdentity/forcegateIdentity.js",
    "lwc/forcegateIdentity/forcegateIdentity.js-meta.xml",
    "remoteSiteSettings/ForcegateService.remoteSite-meta.xml",
}


def source(plan: forcegate.devtools.sfdx.ScaffoldPlan, name: str) -> str:
    return plan.files[SOURCE_ROOT / name]


@pytest.mark.parametrize(
    ("given", "url", "origin"),
    [
        ("https://svc.example.com", "https://svc.example.com", "https://svc.example.com"),
        ("https://svc.example.com/", "https://svc.example.com", "https://svc.example.com"),
        (
            "https://SVC.example.com:8443/forcegate/",
            "https://svc.example.com:8443/forcegate",
            "https://svc.example.com:8443",
        ),
        ("http://localhost:8765", "http://localhost:8765", "http://localhost:8765"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://[::1]:8765", "http://[::1]:8765", "http://[::1]:8765"),
    ],
)
def test_service_url_is_normalised_to_the_token_endpoint_base(given: str, url: str, origin: str) -> None:
    assert normalise_service_url(given) == (url, origin)


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("http://svc.example.com", "must use https"),
        ("ftp://svc.example.com", "absolute https"),
        ("svc.example.com", "absolute https"),
        ("https://", "absolute https"),
        ("https://user:pw@svc.example.com", "user info"),
        ("https://svc.example.com/?a=1", "query"),
        ("https://svc.example.com/#top", "fragment"),
        ("https://svc.example.com/it's", "path may hold only"),
        ("https://svc.example.com/a b", "path may hold only"),
        ("https://svc.example.com/x*/y", "path may hold only"),
        ("https://svc.example.com:22", "ports 80, 443"),
        ("https://svc.example.com:99999", "invalid port"),
        ("https://svc_ex'ample.com", "host name"),
    ],
)
def test_bad_service_urls_are_refused_with_the_reason(given: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        normalise_service_url(given)


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("https://svc.example.com/oauth2/token", "https://svc.example.com"),
        ("https://svc.example.com/oauth2/token/", "https://svc.example.com"),
        ("https://svc.example.com/oauth2", "https://svc.example.com"),
        ("https://svc.example.com/forcegate/oauth2/token", "https://svc.example.com/forcegate"),
        ("https://svc.example.com/api/v1/me", "https://svc.example.com"),
        ("https://svc.example.com/canvas/3MVG9abc", "https://svc.example.com"),
        ("https://svc.example.com/.well-known/jwks.json", "https://svc.example.com"),
    ],
)
def test_an_endpoint_url_is_refused_naming_the_base_url(given: str, base: str) -> None:
    # The option is the base URL: Apex appends /oauth2/token (…/oauth2/token/oauth2/token otherwise).
    with pytest.raises(ConfigurationError, match="give the service's base URL") as refused:
        normalise_service_url(given)
    assert f"here {base});" in refused.value.reason


@pytest.mark.parametrize("prefix", ["/forcegate", "/apiary", "/tokens/oauth"])
def test_a_mount_prefix_is_a_base_url(prefix: str) -> None:
    assert normalise_service_url("https://svc.example.com" + prefix)[0] == "https://svc.example.com" + prefix


@pytest.mark.parametrize("name", ["forcegate_jwt", "Acme1", "a", "a_b_c"])
def test_valid_certificate_names(name: str, tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com", cert_name=name)
    assert f"CERTIFICATE_NAME = '{name}';" in source(plan, "classes/ForcegateClient.cls")


@pytest.mark.parametrize("name", ["1cert", "_cert", "cert_", "ce__rt", "cert-name", "cert name", "c'", "", "x" * 81])
def test_invalid_certificate_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="certificate name"):
        plan_scaffold(tmp_path, service_url="https://svc.example.com", cert_name=name)


@pytest.mark.parametrize("namespace", ["acme.x", "a" * 16, "9acme", "acme__"])
def test_invalid_namespaces_are_refused(namespace: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        plan_scaffold(tmp_path, service_url="https://svc.example.com", namespace=namespace)


def test_escaping_per_target_language() -> None:
    # Validation keeps such values out; the escapers are the second line of defence.
    assert _apex_literal("a'b\\c\nd") == "a\\'b\\\\c\\nd"
    assert _js_literal('a"b\\c</script>') == 'a\\"b\\\\c</script>'
    assert _html_text('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert _render("x = '{{V}}';", suffix=".cls", values={"V": "'; delete x; '"}, name="t") == (
        "x = '\\'; delete x; \\'';"
    )
    assert _render("<u>{{V}}</u>", suffix=".xml", values={"V": "</u><evil/>"}, name="t") == (
        "<u>&lt;/u&gt;&lt;evil/&gt;</u>"
    )


def test_an_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown placeholder"):
        _render("{{NOPE}}", suffix=".cls", values={}, name="t")


def test_every_template_is_rendered_completely(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com")
    assert {str(path.relative_to(SOURCE_ROOT)) for path in plan.files if path.is_relative_to(SOURCE_ROOT)} == EXPECTED
    for path, content in plan.files.items():
        assert "{{" not in content, path


def test_default_values_follow_the_claim_profile(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com/")
    client = source(plan, "classes/ForcegateClient.cls")
    assert "SERVICE_URL = 'https://svc.example.com';" in client
    # aud must be exactly the token endpoint URL: no normalisation on the service side.
    assert "TOKEN_ENDPOINT = SERVICE_URL + '/oauth2/token';" in client
    assert "jwt.setAud(TOKEN_ENDPOINT);" in client
    assert "jwt.setIss(UserInfo.getOrganizationId());" in client
    assert "jwt.setSub(UserInfo.getUserName());" in client
    for claim in ("user_id", "instance_url", "params", "nonce", "org_id", "record_id"):
        assert f"'{claim}'" in client
    assert "CERTIFICATE_NAME = 'forcegate_jwt';" in client
    assert "CACHE_PARTITION = 'local.forcegate';" in client
    assert "EXPIRY_MARGIN_SECONDS = 60;" in client
    assert '"@salesforce/apex/ForcegateController.getIdentity"' in source(
        plan, "lwc/forcegateIdentity/forcegateIdentity.js"
    )


def test_a_namespace_prefixes_the_partition_and_the_apex_import(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com", namespace="acme")
    assert "CACHE_PARTITION = 'acme.forcegate';" in source(plan, "classes/ForcegateClient.cls")
    assert '"@salesforce/apex/acme.ForcegateController.getIdentity"' in source(
        plan, "lwc/forcegateIdentity/forcegateIdentity.js"
    )
    assert "acme.ForcegateCanvasLifecycle" in source(plan, "classes/ForcegateCanvasLifecycle.cls")
    assert json.loads(plan.files[PurePosixPath("sfdx-project.json")])["namespace"] == "acme"


def test_metadata_files_are_well_formed_and_name_the_origin_only(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com:8443/base/")
    roots = {}
    for path, content in plan.files.items():
        if path.suffix == ".xml":
            roots[path.name] = ET.fromstring(content)  # noqa: S314 -- our own generated text
    remote = roots["ForcegateService.remoteSite-meta.xml"]
    assert remote.tag == f"{METADATA_NS}RemoteSiteSetting"
    assert remote.findtext(f"{METADATA_NS}url") == "https://svc.example.com:8443"
    csp = roots["ForcegateService.cspTrustedSite-meta.xml"]
    assert csp.tag == f"{METADATA_NS}CspTrustedSite"
    assert csp.findtext(f"{METADATA_NS}endpointUrl") == "https://svc.example.com:8443"
    partition = roots["forcegate.cachePartition-meta.xml"]
    assert partition.tag == f"{METADATA_NS}PlatformCachePartition"
    assert [
        t.findtext(f"{METADATA_NS}cacheType") for t in partition.iter(f"{METADATA_NS}platformCachePartitionTypes")
    ] == [
        "Organization",
        "Session",
    ]
    bundle = roots["forcegateIdentity.js-meta.xml"]
    assert bundle.findtext(f"{METADATA_NS}isExposed") == "true"
    assert [t.text for t in bundle.iter(f"{METADATA_NS}target")] == [
        "lightning__AppPage",
        "lightning__RecordPage",
        "lightning__HomePage",
    ]
    for name, root in roots.items():
        if name.endswith(".cls-meta.xml"):
            assert root.findtext(f"{METADATA_NS}apiVersion") == API_VERSION


class _TagBalance(HTMLParser):
    # LWC templates close every element explicitly (custom elements cannot self-close).
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open.pop() == tag, f"</{tag}> closes the wrong element"


def test_the_lwc_template_is_balanced_and_uses_lwc_if(tmp_path: Path) -> None:
    template = source(
        plan_scaffold(tmp_path, service_url="https://svc.example.com"), "lwc/forcegateIdentity/forcegateIdentity.html"
    )
    checker = _TagBalance()
    checker.feed(template)
    checker.close()
    assert checker.open == []
    assert template.lstrip().startswith("<template>")
    # if:true is deprecated in favour of lwc:if.
    assert "if:true" not in template
    assert "lwc:if={identity}" in template


def test_write_creates_the_tree_and_a_minimal_project(tmp_path: Path) -> None:
    written = write_scaffold(plan_scaffold(tmp_path, service_url="https://svc.example.com"))
    assert len(written) == len(EXPECTED) + 1
    project = json.loads((tmp_path / "sfdx-project.json").read_text())
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]
    assert project["namespace"] == ""
    assert (tmp_path / "force-app/main/default/classes/ForcegateClient.cls").is_file()


def test_an_existing_project_file_is_kept_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "sfdx-project.json").write_text('{"mine": true}')
    written = write_scaffold(plan_scaffold(tmp_path, service_url="https://svc.example.com"), force=True)
    assert tmp_path / "sfdx-project.json" not in written
    assert json.loads((tmp_path / "sfdx-project.json").read_text()) == {"mine": True}


def test_existing_files_are_not_overwritten_and_nothing_is_written(tmp_path: Path) -> None:
    client = tmp_path / "force-app/main/default/classes/ForcegateClient.cls"
    client.parent.mkdir(parents=True)
    client.write_text("// mine")
    with pytest.raises(ConfigurationError, match=r"refusing to overwrite .*ForcegateClient\.cls"):
        write_scaffold(plan_scaffold(tmp_path, service_url="https://svc.example.com"))
    assert client.read_text() == "// mine"
    assert not (tmp_path / "sfdx-project.json").exists()
    assert not (tmp_path / "force-app/main/default/lwc").exists()


def test_force_overwrites(tmp_path: Path) -> None:
    client = tmp_path / "force-app/main/default/classes/ForcegateClient.cls"
    client.parent.mkdir(parents=True)
    client.write_text("// mine")
    write_scaffold(plan_scaffold(tmp_path, service_url="https://svc.example.com"), force=True)
    assert "public with sharing class ForcegateClient" in client.read_text()
