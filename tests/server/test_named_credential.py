"""Over HTTP: what a Named Credential sends (decision 0020), from the External Credential ``forcegate sfdx
scaffold --callout named-credential`` generates, accepted end to end; its tampered, replayed and
unlisted variants refused.

The org lists the package's issuer beside its own id (``forcegate orgs update --issuer``); the JWT
names the org in ``org_id`` (a formula in the credential) and the user in ``sub``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.devtools.named_credential import ExternalCredential, NamedCredential, SalesforceUser
from forcegate.devtools.sfdx import plan_scaffold
from forcegate.devtools.sfdx._scaffold import SOURCE_ROOT
from forcegate.errors import TokenExchangeError
from server.live import (
    CERT_NAME,
    ORG_ID,
    OTHER_ORG_ID,
    USER_ID,
    USERNAME,
    LiveServer,
    Org,
    get_me,
    make_org,
    post_token,
)

ISSUER = "acme-forcegate"
PREFIX = "/admin/api/v1"
USER = SalesforceUser(org_id=ORG_ID, user_id=USER_ID, username=USERNAME)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def _generated_credential(server: LiveServer, tmp_path: Path) -> ExternalCredential:
    plan = plan_scaffold(tmp_path / "sfdx", service_url=server.url, callout="named-credential", issuer=ISSUER)
    xml = plan.files[SOURCE_ROOT / "externalCredentials/Forcegate.externalCredential-meta.xml"]
    return ExternalCredential.from_metadata(xml, name="Forcegate", certificate_name=CERT_NAME)


def _register(server: LiveServer, org: Org, *, issuers: list[str], algorithms: tuple[str, ...] = ("RS256",)) -> None:
    with server.admin() as admin:
        body = {"org_id": org.org_id, "issuers": issuers, "scopes": ["api"], "algorithms": list(algorithms)}
        assert admin.post(f"{PREFIX}/orgs", json=body).status_code == 201
        added = admin.post(f"{PREFIX}/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem})
        assert added.status_code == 201, added.text


def _last_code(server: LiveServer) -> str:
    with server.admin() as admin:
        [event] = admin.get(f"{PREFIX}/audit", params={"limit": 1}).json()
    return str(event["code"])


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def test_a_named_credential_callout_is_accepted_end_to_end(
    live_server: LiveServer, org: Org, tmp_path: Path, client: httpx.Client
) -> None:
    _register(live_server, org, issuers=[ORG_ID, ISSUER])
    credential = _generated_credential(live_server, tmp_path)
    named = NamedCredential(live_server.url, credential, org.certificates, client, live_server.clock)

    response = named.send("GET", "/api/v1/me", USER)

    assert response.status_code == 200, response.text
    identity = response.json()
    assert identity["source"] == "jwt-bearer"
    assert identity["org_id"] == ORG_ID
    assert identity["username"] == USERNAME
    assert identity["scopes"] == ["api"]
    assert identity["record_id"] is None  # per-call context travels in the request in this mode
    [form] = named.token_requests
    assert _claims(form["assertion"])["iss"] == ISSUER
    # The access token serves the next callouts; the Apex mode's assertions keep working beside it.
    assert named.send("GET", "/api/v1/me", USER).status_code == 200
    assert len(named.token_requests) == 1
    apex = post_token(live_server.url, org.assertion(live_server.token_endpoint))
    assert apex.status_code == 200, apex.text


def test_rs512_is_accepted_only_where_the_org_allows_it(
    live_server: LiveServer, org: Org, tmp_path: Path, client: httpx.Client
) -> None:
    _register(live_server, org, issuers=[ORG_ID, ISSUER])
    generated = _generated_credential(live_server, tmp_path)
    credential = ExternalCredential(
        name="Forcegate",
        certificate_name=CERT_NAME,
        claims=generated.claims,
        token_endpoint=generated.token_endpoint,
        algorithm="RS512",
    )
    named = NamedCredential(live_server.url, credential, org.certificates, client, live_server.clock)
    with pytest.raises(TokenExchangeError, match="Error: invalid_grant"):
        named.send("GET", "/api/v1/me", USER)
    assert _last_code(live_server) == "unsupported_algorithm"
    with live_server.admin() as admin:
        assert admin.patch(f"{PREFIX}/orgs/{ORG_ID}", json={"algorithms": ["RS256", "RS512"]}).status_code == 200
    assert named.send("GET", "/api/v1/me", USER).status_code == 200


def test_an_issuer_the_org_does_not_list_is_refused(
    live_server: LiveServer, org: Org, tmp_path: Path, client: httpx.Client
) -> None:
    _register(live_server, org, issuers=[ORG_ID])
    named = NamedCredential(
        live_server.url, _generated_credential(live_server, tmp_path), org.certificates, client, live_server.clock
    )
    with pytest.raises(TokenExchangeError) as refused:
        named.send("GET", "/api/v1/me", USER)
    assert refused.value.status_code == 400
    assert json.loads(refused.value.body) == {"error": "invalid_grant"}
    assert _last_code(live_server) == "unknown_issuer"


def test_replayed_and_tampered_assertions_are_refused(
    live_server: LiveServer,
    org: Org,
    other_rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    other = make_org(OTHER_ORG_ID, other_rsa_key, live_server.clock, cn="other-org")
    _register(live_server, org, issuers=[ORG_ID, ISSUER])
    _register(live_server, other, issuers=[OTHER_ORG_ID, ISSUER])
    credential = _generated_credential(live_server, tmp_path)
    form = credential.token_request(USER, certificates=org.certificates, clock=live_server.clock)

    assert post_token(live_server.url, form["assertion"]).status_code == 200
    replayed = post_token(live_server.url, form["assertion"])
    assert (replayed.status_code, replayed.json()) == (400, {"error": "invalid_grant"})
    assert _last_code(live_server) == "assertion_replayed"

    # The other org's id in org_id, the signature of this org's key: the other org's keys are tried.
    header, payload, signature = credential.token_request(USER, certificates=org.certificates, clock=live_server.clock)[
        "assertion"
    ].split(".")
    moved = _b64({**_claims(f"{header}.{payload}.{signature}"), "org_id": OTHER_ORG_ID})
    assert post_token(live_server.url, f"{header}.{moved}.{signature}").status_code == 400
    assert _last_code(live_server) == "invalid_signature"
    # Signed by the other org for this org's id: this org's keys do not verify it.
    impostor = SalesforceUser(org_id=ORG_ID, user_id=USER_ID, username="mallory@other.example")
    forged = credential.token_request(impostor, certificates=other.certificates, clock=live_server.clock)
    assert post_token(live_server.url, forged["assertion"]).status_code == 400
    assert _last_code(live_server) == "invalid_signature"
    # A malformed org_id under the issuer is no org at all.
    broken = _b64({**_claims(forged["assertion"]), "org_id": "not-an-org"})
    assert post_token(live_server.url, f"{header}.{broken}.{signature}").status_code == 400
    assert _last_code(live_server) == "unknown_issuer"


def test_the_jwt_protocol_sends_the_jwt_directly_and_it_is_single_use(
    live_server: LiveServer, org: Org, tmp_path: Path, client: httpx.Client
) -> None:
    _register(live_server, org, issuers=[ORG_ID, ISSUER])
    generated = _generated_credential(live_server, tmp_path)
    direct = ExternalCredential(
        name="Forcegate_Direct", certificate_name=CERT_NAME, claims={**generated.claims, "aud": live_server.url}
    )
    named = NamedCredential(live_server.url, direct, org.certificates, client, live_server.clock)
    response = named.send("GET", "/api/v1/me", USER)
    assert response.status_code == 200, response.text
    assert response.json()["source"] == "jwt"
    jwt = direct.jwt(USER, certificates=org.certificates, clock=live_server.clock)
    # Minted in the same second for the same user, the JWT is byte for byte the one just used.
    replay = get_me(live_server.url, jwt)
    assert replay.status_code == 401
    assert _last_code(live_server) == "assertion_replayed"
    live_server.clock.advance(1)
    assert named.send("GET", "/api/v1/me", USER).status_code == 200
