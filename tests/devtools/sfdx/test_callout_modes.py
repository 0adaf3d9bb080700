"""``forcegate sfdx scaffold --callout``: what each mode generates, and what the Named Credential mode's
metadata says (decision 0020); the setup page's enrollment steps in both modes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from forcegate import errors
from forcegate.devtools.sfdx import DEFAULT_ISSUER, ScaffoldPlan, plan_scaffold
from forcegate.devtools.sfdx._scaffold import SOURCE_ROOT
from forcegate.errors import ConfigurationError

NS = "{http://soap.sforce.com/2006/04/metadata}"
URL = "https://svc.example.com/base"


def _plan(tmp_path: Path, callout: str, **options: str) -> ScaffoldPlan:
    return plan_scaffold(tmp_path, service_url=URL + "/", callout=callout, **options)


def _xml(plan: ScaffoldPlan, name: str) -> ET.Element:
    return ET.fromstring(plan.files[SOURCE_ROOT / name])  # noqa: S314 -- our own generated text


def _parameters(root: ET.Element, tag: str) -> dict[tuple[str, str], ET.Element]:
    return {
        (item.findtext(f"{NS}parameterType") or "", item.findtext(f"{NS}parameterName") or ""): item
        for item in root.iter(f"{NS}{tag}")
    }


def _apex(plan: ScaffoldPlan) -> dict[str, str]:
    return {path.name: text for path, text in plan.files.items() if path.suffix == ".cls"}


def test_the_external_credential_is_the_jwt_bearer_flow_to_the_token_endpoint(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "named-credential", issuer="acme-forcegate")
    credential = _xml(plan, "externalCredentials/Forcegate.externalCredential-meta.xml")
    assert credential.findtext(f"{NS}authenticationProtocol") == "Oauth"
    parameters = _parameters(credential, "externalCredentialParameters")
    values = {key: item.findtext(f"{NS}parameterValue") for key, item in parameters.items()}
    assert values[("AuthProtocolVariant", "AuthProtocolVariant")] == "JwtBearer"
    assert values[("AuthProviderUrl", "AuthProviderUrl")] == URL + "/oauth2/token"
    # The claims forcegate maps to an org: a static issuer, the org id by formula, the user by formula.
    assert values[("JwtBodyClaim", "iss")] == "acme-forcegate"
    assert values[("JwtBodyClaim", "aud")] == URL + "/oauth2/token"
    assert values[("JwtBodyClaim", "org_id")] == "{!$Organization.Id}"
    assert values[("JwtBodyClaim", "sub")] == "{!$User.Username}"
    assert ("PerUserPrincipal", "Forcegate_User") in values
    # No certificate is packaged: the subscriber assigns one (docs/security-review.md, post-install steps).
    assert not any(kind == "SigningCertificate" for kind, _ in values)


def test_the_named_credentials_and_the_permission_sets_reference_what_exists(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "named-credential")
    principals = set()
    for name in ("Forcegate", "Forcegate_Enrollment"):
        credential = _xml(plan, f"externalCredentials/{name}.externalCredential-meta.xml")
        for kind, principal in _parameters(credential, "externalCredentialParameters"):
            if kind.endswith("Principal"):
                principals.add(f"{name}-{principal}")
        named = _xml(plan, f"namedCredentials/{name}.namedCredential-meta.xml")
        parameters = _parameters(named, "namedCredentialParameters")
        assert parameters[("Url", "Url")].findtext(f"{NS}parameterValue") == URL
        assert parameters[("Authentication", "ExternalCredential")].findtext(f"{NS}externalCredential") == name
    api = _xml(plan, "namedCredentials/Forcegate.namedCredential-meta.xml")
    assert api.findtext(f"{NS}generateAuthorizationHeader") == "true"
    enrollment = _xml(plan, "namedCredentials/Forcegate_Enrollment.namedCredential-meta.xml")
    assert enrollment.findtext(f"{NS}generateAuthorizationHeader") == "false"

    def granted(permission_set: str) -> set[str]:
        root = _xml(plan, f"permissionsets/{permission_set}.permissionset-meta.xml")
        accesses = root.iter(f"{NS}externalCredentialPrincipalAccesses")
        return {str(item.findtext(f"{NS}externalCredentialPrincipal")) for item in accesses}

    assert granted("Forcegate_User") == {"Forcegate-Forcegate_User"}
    assert granted("Forcegate_Admin") == {"Forcegate-Forcegate_User", "Forcegate_Enrollment-Forcegate_Enrollment"}
    assert granted("Forcegate_Admin") <= principals


def test_the_named_credential_mode_sets_no_authorization_header_and_needs_no_remote_site(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "named-credential")
    for name, text in _apex(plan).items():
        assert "setHeader('Authorization'" not in text, name
        assert "SuppressWarnings" not in text, name
    client = _apex(plan)["ForcegateClient.cls"]
    assert "return 'callout:' + NAMED_CREDENTIAL + path;" in client
    assert "NAMED_CREDENTIAL = 'Forcegate';" in client
    assert "ENROLLMENT_CREDENTIAL = 'Forcegate_Enrollment';" in client
    # The per-call context travels in the request, after the same access check as the Apex mode's.
    assert client.index("!recordAccess.canRead(recordId)") < client.index("withContext(path, params, recordId)")
    assert "Auth.JWTBearerTokenExchange" not in client
    assert "Cache.Session" not in client
    names = {path.parts[3] for path in plan.files if path.is_relative_to(SOURCE_ROOT)}
    assert "remoteSiteSettings" not in names
    assert "cachePartitions" not in names


def test_the_apex_mode_suppresses_one_reviewed_finding_on_one_method(tmp_path: Path) -> None:
    # docs/security-review.md: ApexSuggestUsingNamedCred is reviewed as a false positive on the one
    # method that sets the Authorization header; nothing else is suppressed anywhere.
    apex = _apex(_plan(tmp_path, "apex"))
    found = {name: re.findall(r"@SuppressWarnings\('([^']*)'\)\s*\n\s*([^\n]*)", text) for name, text in apex.items()}
    assert {name: hits for name, hits in found.items() if hits} == {
        "ForcegateClient.cls": [
            (
                "PMD.ApexSuggestUsingNamedCred",
                "static HttpResponse call(String method, String path, String body, String token) {",
            )
        ]
    }
    assert sum(text.count("setHeader('Authorization'") for text in apex.values()) == 1


@pytest.mark.parametrize("issuer", ["00D5g000004ABCDEA4", "00D5g000004ABCD", "", " x", "a b", "é", "x" * 256, "'q'"])
def test_a_bad_issuer_is_refused(issuer: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="issuer"):
        _plan(tmp_path, "named-credential", issuer=issuer)


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="callout mode 'soap' is not one of apex, named-credential"):
        _plan(tmp_path, "soap")


def test_the_default_issuer_is_used(tmp_path: Path) -> None:
    credential = _xml(_plan(tmp_path, "named-credential"), "externalCredentials/Forcegate.externalCredential-meta.xml")
    issuer = _parameters(credential, "externalCredentialParameters")[("JwtBodyClaim", "iss")]
    assert issuer.findtext(f"{NS}parameterValue") == DEFAULT_ISSUER


@pytest.mark.parametrize("callout", ["apex", "named-credential"])
def test_the_enrollment_steps_sign_what_the_service_expects(callout: str, tmp_path: Path) -> None:
    apex = _apex(_plan(tmp_path, callout))
    enrollment = apex["ForcegateEnrollment.cls"]
    assert "PROOF_PATH = '/enroll/proof';" in enrollment
    assert "ROTATE_PATH = '/enroll/rotate';" in enrollment
    assert "CODE_CLAIM = 'enrollment_code';" in enrollment
    assert "NEW_CERTIFICATE_CLAIM = 'forcegate_new_certificate';" in enrollment
    # One payload, signed by the current certificate and by the new one.
    assert "String payload = jwt.toJSONString();" in enrollment
    assert "signer.sign(payload, ForcegateClient.certificateName())" in enrollment
    assert "signer.sign(payload, newCertificateName)" in enrollment
    assert "'assertion=' + EncodingUtil.urlEncode(trusted, 'UTF-8') + '&new_key_assertion='" in enrollment
    assert "jwt.setAud(ForcegateClient.serviceUrl() + path);" in enrollment
    assert "req.setEndpoint(ForcegateClient.enrollmentEndpoint(path));" in enrollment
    for name, text in apex.items():
        assert "System.debug" not in text or name == "ForcegateClient.cls", name


def test_the_rotation_explains_only_codes_the_service_has(tmp_path: Path) -> None:
    setup = _apex(_plan(tmp_path, "apex"))["ForcegateSetupController.cls"]
    start = setup.index("ROTATION_ADVICE = new Map<String, String>{")
    block = setup[start : setup.index("};", start)]
    explained = set(re.findall(r"^\s*'([a-z_]+)' =>", block, re.MULTILINE))
    codes = {getattr(errors, name).code for name in errors.__all__} | {"invalid_grant", "invalid_request"}
    assert explained == {
        "invalid_grant",
        "certificate_shared",
        "already_exists",
        "weak_key",
        "certificate_expired",
        "invalid_request",
    }
    assert explained <= codes, explained - codes


def test_the_setup_page_offers_each_step(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "named-credential")
    script = plan.files[SOURCE_ROOT / "lwc/forcegateSetup/forcegateSetup.js"]
    for method in ("enroll", "rotate", "certificateExpiry", "saveCertificateName", "testConnection"):
        assert f'"@salesforce/apex/ForcegateSetupController.{method}"' in script
    page = plan.files[SOURCE_ROOT / "lwc/forcegateSetup/forcegateSetup.html"]
    for label in ("One-time enrollment code", "Prove enrollment", "Rotate", "{expiry.verdict}", "{switchLabel}"):
        assert label in page
