"""forcegate.devtools.sfdx: inputs are validated, values escaped, files rendered and written safely."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import pytest

import forcegate.devtools.sfdx
from forcegate.devtools.sfdx import API_VERSION, normalise_service_url, plan_scaffold, write_scaffold
from forcegate.devtools.sfdx._scaffold import SOURCE_ROOT, _apex_literal, _html_text, _js_literal, _render
from forcegate.errors import ConfigurationError

METADATA_NS = "{http://soap.sforce.com/2006/04/metadata}"
COMMON = {
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
    "classes/ForcegateControllerTest.cls",
    "classes/ForcegateControllerTest.cls-meta.xml",
    "classes/ForcegateEnrollment.cls",
    "classes/ForcegateEnrollment.cls-meta.xml",
    "classes/ForcegateEnrollmentTest.cls",
    "classes/ForcegateEnrollmentTest.cls-meta.xml",
    "classes/ForcegateEnrollmentTestSupport.cls",
    "classes/ForcegateEnrollmentTestSupport.cls-meta.xml",
    "classes/ForcegateSetupController.cls",
    "classes/ForcegateSetupController.cls-meta.xml",
    "classes/ForcegateSetupControllerTest.cls",
    "classes/ForcegateSetupControllerTest.cls-meta.xml",
    "classes/ForcegateTestSupport.cls",
    "classes/ForcegateTestSupport.cls-meta.xml",
    "cspTrustedSites/ForcegateService.cspTrustedSite-meta.xml",
    "customMetadata/Forcegate_Service.Default.md-meta.xml",
    "lwc/forcegateIdentity/forcegateIdentity.html",
    "lwc/forcegateIdentity/forcegateIdentity.js",
    "lwc/forcegateIdentity/forcegateIdentity.js-meta.xml",
    "lwc/forcegateSetup/forcegateSetup.html",
    "lwc/forcegateSetup/forcegateSetup.js",
    "lwc/forcegateSetup/forcegateSetup.js-meta.xml",
    "objects/Forcegate_Service__mdt/Forcegate_Service__mdt.object-meta.xml",
    "objects/Forcegate_Service__mdt/fields/Default_Certificate_Name__c.field-meta.xml",
    "objects/Forcegate_Service__mdt/fields/Service_URL__c.field-meta.xml",
    "objects/Forcegate_Settings__c/Forcegate_Settings__c.object-meta.xml",
    "objects/Forcegate_Settings__c/fields/Certificate_Name__c.field-meta.xml",
    "permissionsets/Forcegate_Admin.permissionset-meta.xml",
    "permissionsets/Forcegate_User.permissionset-meta.xml",
}
EXPECTED = COMMON | {
    "cachePartitions/forcegate.cachePartition-meta.xml",
    "remoteSiteSettings/ForcegateService.remoteSite-meta.xml",
}
EXPECTED_NAMED_CREDENTIAL = COMMON | {
    "externalCredentials/Forcegate.externalCredential-meta.xml",
    "externalCredentials/Forcegate_Enrollment.externalCredential-meta.xml",
    "namedCredentials/Forcegate.namedCredential-meta.xml",
    "namedCredentials/Forcegate_Enrollment.namedCredential-meta.xml",
}


def source(plan: forcegate.devtools.sfdx.ScaffoldPlan, name: str) -> str:
    return plan.files[SOURCE_ROOT / name]


def service_record(plan: forcegate.devtools.sfdx.ScaffoldPlan) -> dict[str, str | None]:
    """The field values of the custom metadata record Forcegate_Service.Default."""
    root = ET.fromstring(source(plan, "customMetadata/Forcegate_Service.Default.md-meta.xml"))  # noqa: S314
    return {
        str(value.findtext(f"{METADATA_NS}field")): value.findtext(f"{METADATA_NS}value")
        for value in root.iter(f"{METADATA_NS}values")
    }


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
    assert service_record(plan)["Default_Certificate_Name__c"] == name
    assert f"Assert.areEqual('{name}', ForcegateClient.certificateName());" in source(
        plan, "classes/ForcegateClientTest.cls"
    )


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


@pytest.mark.parametrize(("callout", "expected"), [("apex", EXPECTED), ("named-credential", EXPECTED_NAMED_CREDENTIAL)])
def test_every_template_is_rendered_completely(callout: str, expected: set[str], tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com", callout=callout)
    assert {str(path.relative_to(SOURCE_ROOT)) for path in plan.files if path.is_relative_to(SOURCE_ROOT)} == expected
    for path, content in plan.files.items():
        assert "{{" not in content, path


def test_default_values_follow_the_claim_profile(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com/")
    client = source(plan, "classes/ForcegateClient.cls")
    # aud must be exactly the token endpoint URL: no normalisation on the service side.
    assert "return serviceUrl() + '/oauth2/token';" in client
    assert "jwt.setAud(audience);" in client
    assert "buildAssertion(endpoint, params, recordId)" in client
    assert "jwt.setIss(UserInfo.getOrganizationId());" in client
    assert "jwt.setSub(UserInfo.getUserName());" in client
    for claim in ("user_id", "instance_url", "params", "forcegate_nonce", "org_id", "record_id"):
        assert f"'{claim}'" in client
    # `nonce` is an OpenID Connect claim: Auth.JWT may refuse it as an additional claim.
    assert "'nonce'" not in client
    assert "CACHE_PARTITION = 'local.forcegate';" in client
    assert "EXPIRY_MARGIN_SECONDS = 60;" in client
    assert service_record(plan) == {
        "Default_Certificate_Name__c": "forcegate_jwt",
        "Service_URL__c": "https://svc.example.com",
    }
    assert '"@salesforce/apex/ForcegateController.getIdentity"' in source(
        plan, "lwc/forcegateIdentity/forcegateIdentity.js"
    )


def test_no_configuration_is_compiled_into_apex(tmp_path: Path) -> None:
    # Issue 13: a service URL or certificate name in an Apex constant needs a package version to change.
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com", cert_name="acme_jwt")
    for name in ("ForcegateClient.cls", "ForcegateController.cls", "ForcegateTestSupport.cls"):
        text = source(plan, f"classes/{name}")
        assert "svc.example.com" not in text, name
        assert "acme_jwt" not in text, name
    client = source(plan, "classes/ForcegateClient.cls")
    assert "Forcegate_Service__mdt.getInstance(serviceRecordName)" in client
    assert "Forcegate_Settings__c.getInstance()" in client


def test_tokens_are_cached_per_user_session_never_org_wide(tmp_path: Path) -> None:
    client = source(plan_scaffold(tmp_path, service_url="https://svc.example.com"), "classes/ForcegateClient.cls")
    assert "Cache.Session.getPartition(CACHE_PARTITION)" in client
    assert "Cache.Session.isAvailable()" in client
    assert "Cache.Org" not in client
    assert "OrgPartition" not in client
    assert "return 'tok' + UserInfo.getUserId() +" in client


def test_a_record_id_is_checked_in_user_mode_before_it_is_signed(tmp_path: Path) -> None:
    client = source(plan_scaffold(tmp_path, service_url="https://svc.example.com"), "classes/ForcegateClient.cls")
    assert "AccessLevel.USER_MODE" in client
    check = client.index("!recordAccess.canRead(recordId)")
    assert check < client.index("String key = cacheKey(params, recordId);") < client.index("accessToken(key, params")


def test_a_namespace_prefixes_the_partition_but_never_the_apex_import(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com", namespace="acme")
    assert "CACHE_PARTITION = 'acme.forcegate';" in source(plan, "classes/ForcegateClient.cls")
    # LWC guide, "Import Apex Methods": a class in the component's own namespace is named without it.
    lwc = source(plan, "lwc/forcegateIdentity/forcegateIdentity.js")
    assert '"@salesforce/apex/ForcegateController.getIdentity"' in lwc
    assert "acme." not in lwc
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


# Metadata API Developer Guide: the root element of each file type, and the fields each generated file
# must carry (the type's required fields, and those the generated code depends on).
SHAPES: dict[str, tuple[str, tuple[str, ...]]] = {
    ".externalCredential-meta.xml": ("ExternalCredential", ("label", "authenticationProtocol")),
    ".namedCredential-meta.xml": ("NamedCredential", ("label", "namedCredentialType", "namedCredentialParameters")),
    ".cls-meta.xml": ("ApexClass", ("apiVersion", "status")),
    ".cachePartition-meta.xml": ("PlatformCachePartition", ("masterLabel", "isDefaultPartition")),
    ".cspTrustedSite-meta.xml": ("CspTrustedSite", ("endpointUrl", "isActive", "context")),
    ".md-meta.xml": ("CustomMetadata", ("label", "protected", "values")),
    ".js-meta.xml": ("LightningComponentBundle", ("apiVersion", "isExposed")),
    ".object-meta.xml": ("CustomObject", ("label", "visibility")),
    ".field-meta.xml": ("CustomField", ("fullName", "label", "type", "length", "required")),
    ".permissionset-meta.xml": ("PermissionSet", ("label",)),
    ".remoteSite-meta.xml": ("RemoteSiteSetting", ("url", "isActive", "disableProtocolSecurity")),
}


@pytest.mark.parametrize("callout", ["apex", "named-credential"])
@pytest.mark.parametrize("namespace", [None, "acme"])
def test_every_metadata_file_has_its_type_shape(namespace: str | None, callout: str, tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com", namespace=namespace, callout=callout)
    expected = EXPECTED if callout == "apex" else EXPECTED_NAMED_CREDENTIAL
    checked = 0
    for path, content in plan.files.items():
        if path.suffix != ".xml":
            continue
        suffix = next(key for key in SHAPES if path.name.endswith(key))
        root_tag, required = SHAPES[suffix]
        root = ET.fromstring(content)  # noqa: S314 -- our own generated text
        assert root.tag == f"{METADATA_NS}{root_tag}", path
        for field in required:
            assert root.find(f"{METADATA_NS}{field}") is not None, f"{path}: no <{field}>"
        checked += 1
    assert checked == sum(1 for name in expected if name.endswith(".xml"))


def test_metadata_references_resolve(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com")
    files = {str(path.relative_to(SOURCE_ROOT)) for path in plan.files if path.is_relative_to(SOURCE_ROOT)}
    record = ET.fromstring(source(plan, "customMetadata/Forcegate_Service.Default.md-meta.xml"))  # noqa: S314
    for value in record.iter(f"{METADATA_NS}values"):
        assert f"objects/Forcegate_Service__mdt/fields/{value.findtext(f'{METADATA_NS}field')}.field-meta.xml" in files
    permissions = ET.fromstring(source(plan, "permissionsets/Forcegate_User.permissionset-meta.xml"))  # noqa: S314
    classes = [item.findtext(f"{METADATA_NS}apexClass") for item in permissions.iter(f"{METADATA_NS}classAccesses")]
    assert classes == ["ForcegateController"]
    objects = [
        item.findtext(f"{METADATA_NS}name")
        for tag in ("customMetadataTypeAccesses", "customSettingAccesses")
        for item in permissions.iter(f"{METADATA_NS}{tag}")
    ]
    assert objects == ["Forcegate_Service__mdt", "Forcegate_Settings__c"]
    for name in objects:
        assert f"objects/{name}/{name}.object-meta.xml" in files
    admin = ET.fromstring(source(plan, "permissionsets/Forcegate_Admin.permissionset-meta.xml"))  # noqa: S314
    assert [item.findtext(f"{METADATA_NS}apexClass") for item in admin.iter(f"{METADATA_NS}classAccesses")] == [
        "ForcegateSetupController"
    ]
    assert [item.findtext(f"{METADATA_NS}name") for item in admin.iter(f"{METADATA_NS}customSettingAccesses")] == [
        "Forcegate_Settings__c"
    ]
    # What the Apex reads is what the metadata defines.
    client = source(plan, "classes/ForcegateClient.cls")
    for field in ("Service_URL__c", "Default_Certificate_Name__c"):
        assert f"service.{field}" in client or f"serviceRecord().{field}" in client
        assert f"objects/Forcegate_Service__mdt/fields/{field}.field-meta.xml" in files
    assert "settings.Certificate_Name__c" in client


def test_configuration_types_are_protected_or_subscriber_editable(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com")

    def root(name: str) -> ET.Element:
        return ET.fromstring(source(plan, name))  # noqa: S314

    service = root("objects/Forcegate_Service__mdt/Forcegate_Service__mdt.object-meta.xml")
    assert service.findtext(f"{METADATA_NS}visibility") == "Protected"
    assert root("customMetadata/Forcegate_Service.Default.md-meta.xml").findtext(f"{METADATA_NS}protected") == "true"
    for field in ("Service_URL__c", "Default_Certificate_Name__c"):
        manageability = root(f"objects/Forcegate_Service__mdt/fields/{field}.field-meta.xml").findtext(
            f"{METADATA_NS}fieldManageability"
        )
        assert manageability == "DeveloperControlled"
    settings = root("objects/Forcegate_Settings__c/Forcegate_Settings__c.object-meta.xml")
    assert settings.findtext(f"{METADATA_NS}customSettingsType") == "Hierarchy"
    assert settings.findtext(f"{METADATA_NS}visibility") == "Public"


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


@pytest.mark.parametrize("component", ["forcegateIdentity", "forcegateSetup"])
def test_the_lwc_template_is_balanced_and_uses_lwc_if(component: str, tmp_path: Path) -> None:
    template = source(
        plan_scaffold(tmp_path, service_url="https://svc.example.com"), f"lwc/{component}/{component}.html"
    )
    checker = _TagBalance()
    checker.feed(template)
    checker.close()
    assert checker.open == []
    assert template.lstrip().startswith("<template>")
    # if:true is deprecated in favour of lwc:if.
    assert "if:true" not in template
    assert "lwc:if=" in template


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


def test_the_setup_page_explains_only_codes_the_service_has(tmp_path: Path) -> None:
    from forcegate import errors

    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com")
    setup = source(plan, "classes/ForcegateSetupController.cls")
    block = setup[setup.index("ADVICE = new Map<String, String>{") : setup.index("};", setup.index("ADVICE ="))]
    explained = set(re.findall(r"^\s*'([a-z_]+)' =>", block, re.MULTILINE))
    codes = {getattr(errors, name).code for name in errors.__all__}
    assert len(explained) >= 10
    assert explained <= codes, explained - codes


def test_no_token_reaches_the_browser(tmp_path: Path) -> None:
    plan = plan_scaffold(tmp_path, service_url="https://svc.example.com")
    for component in ("forcegateIdentity", "forcegateSetup"):
        script = source(plan, f"lwc/{component}/{component}.js")
        imports = re.findall(r'from "(@salesforce/apex/[^"]+)"', script)
        assert imports, component
        # Only the two controllers are callable from a component; neither returns a token.
        classes = {target.split("/")[-1].split(".")[0] for target in imports}
        assert classes <= {"ForcegateController", "ForcegateSetupController"}, classes
        code = [line for line in script.splitlines() if not line.lstrip().startswith("//")]
        assert not [line for line in code if "token" in line.lower()], component
    for controller in ("ForcegateController", "ForcegateSetupController"):
        text = source(plan, f"classes/{controller}.cls")
        assert "accessToken(" not in text
        assert "'token'" not in text
