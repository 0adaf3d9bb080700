"""forcegate.devtools.named_credential: the External Credential's JWT and token request, exactly as
decision 0020 records Salesforce's, read from the metadata ``forcegate sfdx scaffold`` generates."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools.apex_jwt import CertificateAndKeyManagement
from forcegate.devtools.named_credential import ExternalCredential, NamedCredential, SalesforceUser
from forcegate.devtools.sfdx import plan_scaffold
from forcegate.devtools.sfdx._scaffold import SOURCE_ROOT
from forcegate.errors import ConfigurationError, TokenExchangeError
from helpers import self_signed

SERVICE = "https://svc.example.com"
USER = SalesforceUser(org_id="00D5g000004ABCDEA4", user_id="0055g00000AbCdEAAV", username="ada@acme.example")
NOW = 1_760_000_000


def _decode(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def _generated(tmp_path: Path, name: str = "Forcegate") -> str:
    plan = plan_scaffold(tmp_path, service_url=SERVICE, callout="named-credential", issuer="acme-forcegate")
    return plan.files[SOURCE_ROOT / f"externalCredentials/{name}.externalCredential-meta.xml"]


@pytest.fixture
def certificates(rsa_key: rsa.RSAPrivateKey) -> CertificateAndKeyManagement:
    store = CertificateAndKeyManagement()
    store.add("forcegate_jwt", private_key=rsa_key, certificate=self_signed(rsa_key))
    return store


@pytest.fixture
def credential(tmp_path: Path) -> ExternalCredential:
    return ExternalCredential.from_metadata(_generated(tmp_path), name="Forcegate", certificate_name="forcegate_jwt")


def test_the_generated_credential_mints_what_salesforce_documents(
    credential: ExternalCredential, certificates: CertificateAndKeyManagement
) -> None:
    assert credential.protocol == "jwt-bearer"
    assert credential.token_endpoint == SERVICE + "/oauth2/token"
    form = credential.token_request(USER, certificates=certificates, clock=FixedClock(NOW + 0.7))
    assert list(form) == ["grant_type", "assertion"]  # no scope: the credential sets none
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims, signature = form["assertion"].split(".")
    assert _decode(header) == {"alg": "RS256", "typ": "JWT", "kid": "Forcegate"}
    assert _decode(claims) == {
        "iss": "acme-forcegate",
        "sub": USER.username,
        "aud": SERVICE + "/oauth2/token",
        "exp": NOW + 120,
        "iat": NOW,
        "nbf": NOW,
        "org_id": USER.org_id,
    }
    assert list(_decode(claims)) == ["iss", "sub", "aud", "exp", "iat", "nbf", "org_id"]
    assert len(base64.urlsafe_b64decode(signature + "==")) == 256


def test_rs512_a_scope_and_another_kid(
    certificates: CertificateAndKeyManagement, credential: ExternalCredential
) -> None:
    variant = ExternalCredential(
        name=credential.name,
        certificate_name="forcegate_jwt",
        claims=credential.claims,
        token_endpoint=credential.token_endpoint,
        algorithm="RS512",
        scope="api",
        key_id="0pu5g000000001AAA",
        typ=None,
    )
    form = variant.token_request(USER, certificates=certificates, clock=FixedClock(NOW))
    assert form["scope"] == "api"
    assert _decode(form["assertion"].split(".")[0]) == {"alg": "RS512", "kid": "0pu5g000000001AAA"}


def test_only_salesforces_algorithms_sign(certificates: CertificateAndKeyManagement) -> None:
    with pytest.raises(ConfigurationError, match="RS256 or RS512"):
        certificates.sign_jws("forcegate_jwt", b"{}", alg="PS256")


def test_formulas_the_emulator_does_not_know_are_refused() -> None:
    assert USER.evaluate("{!$User.Id}") == USER.user_id
    assert USER.evaluate("literal") == "literal"
    for formula in ("{!$User.Email}", "{!TEXT(NOW())}", "prefix {!$Organization.Id}"):
        with pytest.raises(ConfigurationError, match="does not evaluate"):
            USER.evaluate(formula)


def test_other_protocols_are_not_jwt_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a JWT one"):
        ExternalCredential.from_metadata(
            _generated(tmp_path, "Forcegate_Enrollment"), name="Forcegate_Enrollment", certificate_name="x"
        )
    jwt_protocol = (
        '<ExternalCredential xmlns="http://soap.sforce.com/2006/04/metadata">'
        "<authenticationProtocol>Jwt</authenticationProtocol></ExternalCredential>"
    )
    assert ExternalCredential.from_metadata(jwt_protocol, name="Direct", certificate_name="x").protocol == "jwt"
    no_url = jwt_protocol.replace(">Jwt<", ">Oauth<").replace(
        "</ExternalCredential>",
        "<externalCredentialParameters><parameterName>AuthProtocolVariant</parameterName>"
        "<parameterType>AuthProtocolVariant</parameterType><parameterValue>JwtBearer</parameterValue>"
        "</externalCredentialParameters></ExternalCredential>",
    )
    with pytest.raises(ConfigurationError, match="needs an AuthProviderUrl"):
        ExternalCredential.from_metadata(no_url, name="Bearer", certificate_name="x")


class _Service:
    """A token endpoint and an API, as httpx.MockTransport handlers: what reached each."""

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.bearers: list[str] = []
        self.api_status = [200]
        self.token_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            self.forms.append(parse_qs(request.content.decode()))
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"access_token": f"at-{len(self.forms)}", "expires_in": 600})
        self.bearers.append(request.headers["authorization"])
        return httpx.Response(self.api_status.pop(0) if len(self.api_status) > 1 else self.api_status[0], json={})


def _named(
    credential: ExternalCredential, certificates: CertificateAndKeyManagement, service: _Service, clock: FixedClock
) -> NamedCredential:
    client = httpx.Client(transport=httpx.MockTransport(service))
    return NamedCredential(SERVICE, credential, certificates, client, clock)


def test_the_platform_exchanges_once_and_attaches_the_token(
    credential: ExternalCredential, certificates: CertificateAndKeyManagement
) -> None:
    service, clock = _Service(), FixedClock(NOW)
    named = _named(credential, certificates, service, clock)
    for _ in range(2):
        assert named.send("GET", "/api/v1/me", USER, headers={"Authorization": "Bearer mine"}).status_code == 200
    assert len(service.forms) == 1
    assert service.bearers == ["Bearer at-1", "Bearer at-1"]  # the caller's own Authorization is dropped
    assert named.token_requests[0]["assertion"] == service.forms[0]["assertion"][0]
    clock.advance(600)  # expires_in has run out
    named.send("GET", "/api/v1/me", USER)
    assert service.bearers[-1] == "Bearer at-2"


def test_a_401_exchanges_again_once(credential: ExternalCredential, certificates: CertificateAndKeyManagement) -> None:
    service, clock = _Service(), FixedClock(NOW)
    named = _named(credential, certificates, service, clock)
    named.send("GET", "/api/v1/me", USER)
    service.api_status = [401, 200]
    assert named.send("GET", "/api/v1/me", USER).status_code == 200
    assert service.bearers == ["Bearer at-1", "Bearer at-1", "Bearer at-2"]


def test_a_refused_exchange_is_the_platforms_callout_error(
    credential: ExternalCredential, certificates: CertificateAndKeyManagement
) -> None:
    service = _Service()
    service.token_status = 400
    named = _named(credential, certificates, service, FixedClock(NOW))
    with pytest.raises(TokenExchangeError) as refused:
        named.send("GET", "/api/v1/me", USER)
    assert refused.value.reason == "Unable to complete the JWT token exchange. Error: invalid_grant."
    assert refused.value.status_code == 400
    assert service.bearers == []


def test_the_jwt_protocol_sends_a_new_jwt_each_callout(
    credential: ExternalCredential, certificates: CertificateAndKeyManagement
) -> None:
    direct = ExternalCredential(
        name="Direct", certificate_name="forcegate_jwt", claims={**credential.claims, "aud": SERVICE}
    )
    service, clock = _Service(), FixedClock(NOW)
    named = _named(direct, certificates, service, clock)
    named.send("GET", "/api/v1/me", USER)
    clock.advance(1)
    named.send("GET", "/api/v1/me", USER)
    assert service.forms == []
    first, second = (bearer.removeprefix("Bearer ") for bearer in service.bearers)
    assert first != second
    assert _decode(first.split(".")[1])["aud"] == SERVICE
